module github.com/shmkit/shmkit

go 1.24.0

require golang.org/x/sys v0.41.0

require github.com/klauspost/compress v1.19.2 // indirect
