package fence

// storeRelease64 stores v at *p with a plain MOV, which is a release store
// here on two counts:
//
//   - The CPU: under x86-TSO a store is not reordered with earlier loads or
//     earlier stores.
//   - The compiler: Go's SSA backend threads every load and store through
//     one chain of memory states. A store takes the state that the earlier
//     stores produced, and the scheduler places every load of a state
//     before the store that replaces it, so the compiled code keeps the
//     program order of this store against the loads and stores before it.
//     The optimisations that do drop or merge memory operations (dead-store
//     elimination, combining of adjacent narrow stores) act only where the
//     compiler can prove the addresses equal or adjacent, which a published
//     word and the payload it publishes never are.
//
// TestPublishOrder checks both between processes.
func storeRelease64(p *uint64, v uint64) { *p = v }
