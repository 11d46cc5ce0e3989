/** Declared surface of native/src/shm.cc (mmap, flock, futex, CLOCK_TAI). Filled in by the domain layer. */
export interface NativeShm {}
