// The ftensor dialect: the tensor level, below graph and above upstream linalg.
//
// A fused kernel is not an op of this dialect: it is an outlined `func.func` marked with the
// unit attribute `ftensor.kernel` and called with a plain `func.call` (an IRDL op can be
// neither a terminator nor a CallOpInterface, so a region-holding kernel op would not
// bufferize; see docs/dialects/ftensor.md). The ops here are the tensor-level operations
// that have no upstream counterpart.
irdl.dialect @ftensor {
  // Affine quantization: y = saturate(round(x / scale) + zero_point).
  // Per tensor when `scale` is 0-d, per axis (`axis`) when it is 1-d.
  irdl.operation @quantize {
    %x = irdl.base "!builtin.tensor"
    %scale = irdl.base "!builtin.tensor"
    %zero_point = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    %attr_axis = irdl.base "#builtin.integer"
    irdl.operands(x: %x, scale: %scale, zero_point: %zero_point)
    irdl.results(y: %r_y)
    irdl.attributes {"axis" = %attr_axis}
  }
  // Inverse of quantize: y = (x - zero_point) * scale.
  irdl.operation @dequantize {
    %x = irdl.base "!builtin.tensor"
    %scale = irdl.base "!builtin.tensor"
    %zero_point = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    %attr_axis = irdl.base "#builtin.integer"
    irdl.operands(x: %x, scale: %scale, zero_point: %zero_point)
    irdl.results(y: %r_y)
    irdl.attributes {"axis" = %attr_axis}
  }
  // A physical layout change between two named layouts (e.g. "NCHW" -> "NHWC").
  // The layouts are strings of distinct dimension letters; the result shape is the
  // operand shape permuted accordingly.
  irdl.operation @relayout {
    %x = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    %attr_src_layout = irdl.base "#builtin.string"
    %attr_dst_layout = irdl.base "#builtin.string"
    irdl.operands(x: %x)
    irdl.results(y: %r_y)
    irdl.attributes {"src_layout" = %attr_src_layout, "dst_layout" = %attr_dst_layout}
  }
}
