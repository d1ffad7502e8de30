//go:build linux

package value_test

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/testutil"
	"github.com/shmkit/shmkit/lock"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/spawn"
	"github.com/shmkit/shmkit/value"
)

// childDieMidWrite stores makeRecord(2) over makeRecord(1) and stops in the
// middle of write step args[0] (half of a slot written), to be killed there.
var childDieMidWrite = spawn.Register("TestCrashMidWrite", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	sh, err := openShared(seg)
	if err != nil {
		return err
	}
	v, err := value.Open[record](seg, "v")
	if err != nil {
		return err
	}
	target := 1
	if c.Args()[0] == "2" {
		target = 2
	}
	value.SetWriteHook(func(step int) {
		if step == target {
			atomic.StoreUint32(&sh.flag, 1)
			<-ctx.Done() // killed here
		}
	})
	v.Store(makeRecord(2))
	return errors.New("the write hook did not stop the Store")
})

// TestCrashMidWrite kills a writer in the middle of each of the two slot
// writes of a seqlock Store. Readers never wait for the dead writer and
// never see a torn value: killed while writing slot 0, the value is the old
// one; while writing slot 1, the new one. The next writer takes the lock
// over, repairs the torn slot and writes normally.
func TestCrashMidWrite(t *testing.T) {
	for _, c := range []struct {
		step string
		want record // what Load returns after the kill
	}{
		{"1", makeRecord(1)},
		{"2", makeRecord(2)},
	} {
		t.Run("step="+c.step, func(t *testing.T) {
			seg := testutil.Segment(t, 1<<20)
			v, err := value.New[record](seg, "v")
			if err != nil {
				t.Fatal(err)
			}
			v.Store(makeRecord(1))
			sh := newShared(t, seg)
			p := testutil.Start(t, childDieMidWrite, seg, c.step)
			testutil.WaitFor(t, testutil.Timeout, "the writer to stop mid-write", func() bool { return atomic.LoadUint32(&sh.flag) == 1 })
			p.Kill()
			p.Wait()

			if phase := value.Seq(v) & 3; strconv.FormatUint(phase, 10) != c.step {
				t.Fatalf("sequence phase %d after the kill, want %s", phase, c.step)
			}
			t0 := time.Now()
			for range 1000 {
				if got := v.Load(); got != c.want {
					t.Fatalf("Load = %+v after the writer died, want %+v", got, c.want)
				}
			}
			if d := time.Since(t0); value.Fallbacks(v) != 0 {
				t.Fatalf("reads fell back to the lock %d times (%v): they must not wait for a dead writer", value.Fallbacks(v), d)
			}
			// The next writer takes over the dead writer's lock and repairs.
			m := v.Locker().(*lock.Mutex)
			if m.Holder() != p.Pid() {
				t.Fatalf("lock holder %d, want the dead writer %d", m.Holder(), p.Pid())
			}
			v.Store(makeRecord(3))
			if got := v.Load(); got != makeRecord(3) {
				t.Fatalf("Load = %+v after the next Store", got)
			}
			if phase := value.Seq(v) & 3; phase != 0 {
				t.Fatalf("sequence phase %d after a complete Store", phase)
			}
			v.Update(func(r *record) { *r = makeRecord(r.A + 1) })
			if got := v.Load(); got != makeRecord(4) {
				t.Fatalf("Load = %+v after Update", got)
			}
		})
	}
}

// childDieInUpdate stops inside Update's fn, having scribbled on its copy,
// to be killed there.
var childDieInUpdate = spawn.Register("TestCrashInUpdate", func(ctx context.Context, c *spawn.Child) error {
	seg := c.Segments()[0]
	sh, err := openShared(seg)
	if err != nil {
		return err
	}
	stop := func() {
		atomic.StoreUint32(&sh.flag, 1)
		<-ctx.Done() // killed here
	}
	if c.Args()[0] == "int64" {
		v, err := value.Open[int64](seg, "v")
		if err != nil {
			return err
		}
		v.Update(func(x *int64) { *x = -1; stop() })
	} else {
		v, err := value.Open[record](seg, "v")
		if err != nil {
			return err
		}
		v.Update(func(x *record) { x.A = 99; stop() })
	}
	return errors.New("Update returned")
})

// TestCrashInUpdate kills a process inside Update's fn, holding the value's
// lock. The value is unchanged (fn works on a copy), readers do not wait,
// and the next locker takes the lock over, LockContext saying so.
func TestCrashInUpdate(t *testing.T) {
	t.Run("int64", func(t *testing.T) {
		seg := testutil.Segment(t, 1<<20)
		v, err := value.New[int64](seg, "v")
		if err != nil {
			t.Fatal(err)
		}
		v.Store(41)
		killInUpdate(t, seg, "int64", v.Locker().(*lock.Mutex))
		if got := v.Load(); got != 41 {
			t.Fatalf("Load = %d after a process died in Update, want 41", got)
		}
		v.Update(func(x *int64) { *x++ })
		if got := v.Load(); got != 42 {
			t.Fatalf("Load = %d after the next Update, want 42", got)
		}
	})
	t.Run("record", func(t *testing.T) {
		seg := testutil.Segment(t, 1<<20)
		v, err := value.New[record](seg, "v")
		if err != nil {
			t.Fatal(err)
		}
		v.Store(makeRecord(41))
		killInUpdate(t, seg, "record", v.Locker().(*lock.Mutex))
		if got := v.Load(); got != makeRecord(41) {
			t.Fatalf("Load = %+v after a process died in Update", got)
		}
		v.Update(func(r *record) { *r = makeRecord(r.A + 1) })
		if got := v.Load(); got != makeRecord(42) {
			t.Fatalf("Load = %+v after the next Update", got)
		}
	})
}

func killInUpdate(t *testing.T, seg *shm.Segment, kind string, m *lock.Mutex) {
	t.Helper()
	sh := newShared(t, seg)
	p := testutil.Start(t, childDieInUpdate, seg, kind)
	testutil.WaitFor(t, testutil.Timeout, "the child to stop inside Update", func() bool { return atomic.LoadUint32(&sh.flag) == 1 })
	p.Kill()
	p.Wait()
	if m.Holder() != p.Pid() {
		t.Fatalf("lock holder %d, want the dead child %d", m.Holder(), p.Pid())
	}
	if err := m.LockContext(context.Background()); !errors.Is(err, lock.ErrOwnerDead) {
		t.Fatalf("LockContext = %v, want ErrOwnerDead", err)
	}
	m.Unlock()
}
