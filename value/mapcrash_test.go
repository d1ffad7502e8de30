//go:build linux

package value_test

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
	"github.com/shmkit/shmkit/value"
)

// The crash tests' map: crashKeys keys "k<i>" of crashValue(i), and
// "victim", whose old value is victimOld and new one victimNew, both over
// several chunks.
const crashKeys = 40

var (
	victimOld = pattern(1000, 200)
	victimNew = pattern(2000, 300)
)

func crashValue(i int) string { return pattern(i, i*7%250) }

// childMapVictim makes one change to the map, args[0], and stops at hook
// point args[1] (0: in Update's fn) until it is killed.
var childMapVictim = spawn.Register("TestMapCrash.victim", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	sh, err := openShared(seg)
	if err != nil {
		return err
	}
	m, err := value.OpenBytesMap(seg, "m")
	if err != nil {
		return err
	}
	point, _ := strconv.Atoi(c.Args()[1])
	stop := func() {
		atomic.StoreUint32(&sh.flag, 1)
		<-ctx.Done() // killed here
	}
	value.SetMapHook(func(p int) {
		if p == point {
			stop()
		}
	})
	switch c.Args()[0] {
	case "replace":
		err = m.Put([]byte("victim"), []byte(victimNew))
	case "insert":
		err = m.Put([]byte("fresh"), []byte(victimNew))
	case "delete":
		_, err = m.Delete([]byte("victim"))
	case "update":
		err = m.Update([]byte("victim"), func(old []byte, ok bool) ([]byte, bool) {
			stop()
			return []byte(victimNew), true
		})
	case "clear":
		err = m.Clear()
	case "get":
		_, _, err = m.Get([]byte("k1"), nil) // repairs what an earlier victim left
	}
	if err != nil {
		return err
	}
	return errors.New("the hook did not stop the change")
})

// killAt starts a victim making change op, waits until it stops at point,
// and kills it.
func killAt(t *testing.T, seg *shm.Segment, sh *shared, op string, point int) {
	t.Helper()
	atomic.StoreUint32(&sh.flag, 0)
	p := testutil.Start(t, childMapVictim, seg, op, strconv.Itoa(point))
	testutil.WaitFor(t, testutil.Timeout, "the victim to stop at its hook", func() bool { return atomic.LoadUint32(&sh.flag) == 1 })
	p.Kill()
	p.Wait()
}

// TestMapCrash kills a process at each point of a Put, Delete, Update and
// Clear, and in the middle of a repair, and checks what the survivors see:
// every key with its old or its new value as documented, never anything
// else; Len exact; and, once the first process to lock the map after the
// death (a reader or a writer) has repaired it, every invariant of the
// table (no chunk leaked: a churn near the capacity then never fails).
func TestMapCrash(t *testing.T) {
	const (
		old    = "old"
		new    = "new"
		absent = "absent"
		any    = "any"
	)
	for _, c := range []struct {
		name    string
		op      string
		point   int
		victim  string // victim's value after the kill
		fresh   string // fresh's
		first   string // the first to lock after the kill: "reader" or "writer"
		repairs int    // repairs made by then
	}{
		{"put/written", "replace", value.MapHookWritten, old, absent, "reader", 1},
		{"put/written/writer", "replace", value.MapHookWritten, old, absent, "writer", 1},
		{"put/linked", "replace", value.MapHookLinked, new, absent, "reader", 1},
		{"put/linked/writer", "replace", value.MapHookLinked, new, absent, "writer", 1},
		{"put/freeing", "replace", value.MapHookFreeing, new, absent, "reader", 1},
		{"put/freeing/writer", "replace", value.MapHookFreeing, new, absent, "writer", 1},
		{"put/freed", "replace", value.MapHookFreed, new, absent, "reader", 1},
		{"insert/written", "insert", value.MapHookWritten, old, absent, "reader", 1},
		{"insert/linked", "insert", value.MapHookLinked, old, new, "writer", 1},
		{"delete/unlinked", "delete", value.MapHookLinked, absent, absent, "reader", 1},
		{"delete/freeing", "delete", value.MapHookFreeing, absent, absent, "writer", 1},
		{"delete/freed", "delete", value.MapHookFreed, absent, absent, "reader", 1},
		{"update/fn", "update", 0, old, absent, "reader", 0},
		{"update/fn/writer", "update", 0, old, absent, "writer", 1},
		{"clear/half", "clear", value.MapHookClearing, any, absent, "reader", 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			seg := testutil.Segment(t, 1<<20)
			m, err := value.NewBytesMap(seg, "m", value.MapOptions{Entries: 64, Bytes: 64 * 160, MaxEntryBytes: 400})
			if err != nil {
				t.Fatal(err)
			}
			for i := range crashKeys {
				put(t, m, "k"+strconv.Itoa(i), crashValue(i))
			}
			put(t, m, "victim", victimOld)
			killAt(t, seg, newShared(t, seg), c.op, c.point)

			if c.first == "writer" {
				put(t, m, "after", "x")
			}
			checkAfterCrash(t, m, c.victim, c.fresh, c.op == "clear")
			if c.first == "writer" {
				if v, ok := get(t, m, "after"); !ok || v != "x" {
					t.Fatalf("the first writer's key: %q, %v", v, ok)
				}
			}
			if n := value.InfoOf(m).Repairs; n != c.repairs {
				t.Fatalf("%d repairs, want %d", n, c.repairs)
			}
			verify(t, m)
			churnToCapacity(t, m)
		})
	}
}

// TestMapCrashInRepair kills a writer mid-free, then kills the reader that
// repairs after it, mid-repair: the next locker repairs again.
func TestMapCrashInRepair(t *testing.T) {
	seg := testutil.Segment(t, 1<<20)
	m, err := value.NewBytesMap(seg, "m", value.MapOptions{Entries: 64, Bytes: 64 * 160, MaxEntryBytes: 400})
	if err != nil {
		t.Fatal(err)
	}
	for i := range crashKeys {
		put(t, m, "k"+strconv.Itoa(i), crashValue(i))
	}
	put(t, m, "victim", victimOld)
	sh := newShared(t, seg)
	killAt(t, seg, sh, "replace", value.MapHookFreeing)
	killAt(t, seg, sh, "get", value.MapHookRepairing)
	if n := value.InfoOf(m).Repairs; n != 0 {
		t.Fatalf("%d repairs completed, want 0", n)
	}
	checkAfterCrash(t, m, "new", "absent", false)
	if n := value.InfoOf(m).Repairs; n != 1 {
		t.Fatalf("%d repairs, want 1", n)
	}
	verify(t, m)
	churnToCapacity(t, m)
}

// checkAfterCrash checks the victim's and fresh's values ("old", "new",
// "absent", or "any" of old and absent), and that every other key has its
// value (or, after a Clear, is absent or has it), and Len.
func checkAfterCrash(t *testing.T, m *value.BytesMap, victim, fresh string, cleared bool) {
	t.Helper()
	want := map[string]string{"old": victimOld, "new": victimNew}
	n := 0
	for key, state := range map[string]string{"victim": victim, "fresh": fresh} {
		v, ok := get(t, m, key)
		switch {
		case ok && state != "absent" && (v == want[state] || state == "any" && v == victimOld):
			n++
		case !ok && (state == "absent" || state == "any"):
		default:
			t.Fatalf("%s = %d bytes, %v after the kill; want %s", key, len(v), ok, state)
		}
	}
	for i := range crashKeys {
		v, ok := get(t, m, "k"+strconv.Itoa(i))
		if ok {
			n++
		}
		if ok && v != crashValue(i) || !ok && !cleared {
			t.Fatalf("k%d = %d bytes, %v after the kill", i, len(v), ok)
		}
	}
	if _, ok := get(t, m, "after"); ok {
		n++
	}
	if m.Len() != n {
		t.Fatalf("Len %d, %d keys found", m.Len(), n)
	}
	if cleared && (n == 0 || n == crashKeys+1) {
		t.Fatalf("%d keys left by a Clear killed half-way", n)
	}
}

// churnToCapacity deletes m's keys and churns it at its capacity (entries
// of the average size the capacity allows): a chunk leaked by a crash would
// make a Put fail.
func churnToCapacity(t *testing.T, m *value.BytesMap) {
	t.Helper()
	info := value.InfoOf(m)
	snap, err := m.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	for k := range snap {
		if ok, err := m.Delete([]byte(k)); !ok || err != nil {
			t.Fatalf("Delete(%q) = %v, %v", k, ok, err)
		}
	}
	per := info.Bytes / info.Entries
	for i := range 4 * info.Entries {
		if i >= info.Entries {
			if ok, err := m.Delete([]byte(strconv.Itoa(i - info.Entries))); !ok || err != nil {
				t.Fatalf("Delete = %v, %v", ok, err)
			}
		}
		k := strconv.Itoa(i)
		put(t, m, k, pattern(i, per-len(k)))
	}
	if m.Len() != info.Entries {
		t.Fatalf("Len %d at capacity, want %d", m.Len(), info.Entries)
	}
	verify(t, m)
}
