/** Declared surface of native/src/fabric.cc (libfabric wrappers). */
export interface NativeFabric {}
