// The hw dialect: the hardware level. Buffers are memrefs placed in arenas by the memory
// planner; kernels are launched on streams.
irdl.dialect @hw {
  // Where a module runs: kind is one of cpu|cuda|rocm|ascend, chip a target name
  // (e.g. "x86-64-v4", "sm_90", "gfx942", "910b"), features a comma-separated list.
  irdl.operation @target {
    %attr_kind = irdl.base "#builtin.string"
    %attr_chip = irdl.base "#builtin.string"
    %attr_features = irdl.base "#builtin.string"
    irdl.attributes {"kind" = %attr_kind, "chip" = %attr_chip, "features" = %attr_features}
  }
  // A buffer at a fixed byte offset inside a named arena.
  irdl.operation @alloc {
    %r_buffer = irdl.base "!builtin.memref"
    %attr_arena = irdl.base "#builtin.string"
    %attr_offset = irdl.base "#builtin.integer"
    %attr_size = irdl.base "#builtin.integer"
    irdl.results(buffer: %r_buffer)
    irdl.attributes {"arena" = %attr_arena, "offset" = %attr_offset, "size" = %attr_size}
  }
  // Launches the kernel function `kernel` on `stream` with a grid and block shape
  // (both [1] on a CPU) and `shared_bytes` of dynamic shared memory. Operands are byte
  // buffers, `memref<?xi8>`, as a runtime sees them; `args` lists the kernel's arguments
  // in order, each a dictionary: a view of operand `buffer` starting `byte_offset` bytes
  // in, with MLIR's memref descriptor (`offset`, `sizes`, `strides`, in elements), or an
  // `index`. `from` names the model's kernel function the launch computes. One type for
  // all operands is also what IRDL allows: it checks every value of a variadic slot
  // against one constraint variable, which forces equal types.
  irdl.operation @launch {
    %args = irdl.base "!builtin.memref"
    %attr_kernel = irdl.base "#builtin.symbol_ref"
    %attr_grid = irdl.base "#builtin.dense_array"
    %attr_block = irdl.base "#builtin.dense_array"
    %attr_shared_bytes = irdl.base "#builtin.integer"
    %attr_stream = irdl.base "#builtin.integer"
    %attr_args = irdl.base "#builtin.array"
    %attr_from = irdl.base "#builtin.string"
    irdl.operands(args: variadic %args)
    irdl.results()
    irdl.attributes {"kernel" = %attr_kernel, "grid" = %attr_grid, "block" = %attr_block, "shared_bytes" = %attr_shared_bytes, "stream" = %attr_stream, "args" = %attr_args, "from" = %attr_from}
  }
  // An asynchronous copy from `source` to `dest` on `stream`.
  irdl.operation @copy {
    %source = irdl.base "!builtin.memref"
    %dest = irdl.base "!builtin.memref"
    %attr_stream = irdl.base "#builtin.integer"
    irdl.operands(source: %source, dest: %dest)
    irdl.results()
    irdl.attributes {"stream" = %attr_stream}
  }
  // Blocks until all work queued on `stream` has finished.
  irdl.operation @wait {
    %attr_stream = irdl.base "#builtin.integer"
    irdl.results()
    irdl.attributes {"stream" = %attr_stream}
  }
}
