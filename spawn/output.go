//go:build unix

package spawn

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// outputMu serialises the lines that forwarders write, so that lines of
// different children (and of stdout and stderr) never interleave.
var outputMu sync.Mutex

// maxLine bounds a forwarded line: a longer one is cut into several lines,
// each with the prefix.
const maxLine = 64 << 10

// expandPrefix returns prefix with %n, %p and %% replaced.
func expandPrefix(prefix, name string, pid int) []byte {
	if prefix == "" {
		prefix = "[%n %p] "
	}
	var b strings.Builder
	for i := 0; i < len(prefix); i++ {
		if prefix[i] != '%' || i+1 == len(prefix) {
			b.WriteByte(prefix[i])
			continue
		}
		i++
		switch prefix[i] {
		case 'n':
			b.WriteString(name)
		case 'p':
			b.WriteString(strconv.Itoa(pid))
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(prefix[i])
		}
	}
	return []byte(b.String())
}

// forward copies r to w line by line, each line after prefix, until EOF,
// and closes done. A last line without a newline gets one.
func forward(r *os.File, w io.Writer, prefix []byte, done chan<- struct{}) {
	defer close(done)
	defer r.Close()
	br := bufio.NewReaderSize(r, maxLine)
	var out bytes.Buffer
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			out.Reset()
			out.Write(prefix)
			out.Write(line)
			if line[len(line)-1] != '\n' {
				out.WriteByte('\n')
			}
			outputMu.Lock()
			w.Write(out.Bytes())
			outputMu.Unlock()
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

// drain waits for a forwarder to finish after its child exited, but not
// for long: a descendant that inherited the pipe may keep it open.
func drain(r *os.File, done <-chan struct{}) {
	select {
	case <-done:
	case <-time.After(time.Second):
		r.SetReadDeadline(time.Now())
		<-done
	}
}
