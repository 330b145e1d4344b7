using Ternion.IR;
using Ternion.IR.Ternary;

namespace Ternion.Passes.Ternary;

/// <summary>
/// Gives TernaryDecode a model-local function body of standard ops (spec section 5), so any ONNX
/// runtime runs it: Cast(packed -> int32) -> Gather(LUT) -> Reshape [M, R*5] -> Slice [:, :K] ->
/// back to the logical shape (still int8) -> to T -> times the scale per channel. The body is written for the
/// model's default-domain opset (function and model must agree on it).
/// </summary>
public sealed class AddTernaryDecodeFunction : InPlacePass
{
    public override string Name => "AddTernaryDecodeFunction";

    protected override int Apply(Model model, PassContext context)
    {
        if (!model.AllNodes().Any(TernaryDecodeOp.Is)) return 0;
        if (model.FindFunction(TernaryDecodeOp.Domain, TernaryDecodeOp.OpType) is not null) return 0;
        long opset = model.GetOpsetVersion("") ?? throw new TernionException("the model imports no default-domain opset; the TernaryDecode fallback body needs one");
        if (opset < 13) throw new TernionException($"the model's opset {opset} is older than 13, which the TernaryDecode fallback body needs");
        model.Functions.Add(Build(opset));
        TernaryDecodeOp.MarkModel(model);
        // Attribute defaults of model-local functions (attribute_proto) exist from IR version 9 on.
        if ((model.IrVersion ?? 0) < 9) model.IrVersion = 9;
        return 1;
    }

    public static Function Build(long opset)
    {
        var body = new Graph(new NameAuthority()) { Name = "TernaryDecode" };
        var f = new Function(TernaryDecodeOp.Domain, TernaryDecodeOp.OpType, body) { DocString = "TTF1 decode (Ternion spec section 5) from standard ops." };
        f.AttributeNames.Add("shape");
        f.AttributeDefaults.Add(Attribute.Int("axis", 0));
        f.AttributeDefaults.Add(Attribute.Int("block_size", TernaryLayout.DefaultBlockSize));
        f.OpsetImports.Add(new OpsetId("", opset));
        var packed = body.AddInput("packed", null);
        var scale = body.AddInput("scale", null);

        Value Op(string op, Value?[] inputs, params Attribute[] attrs) => body.Append(new Node("", op, inputs, 1, attrs)).Output();
        Value Const(Tensor t) => Op("Constant", [], Attribute.FromTensor("value", t));
        Value Ints(params long[] v) => Const(Tensor.FromArray<long>(null, DataType.Int64, [v.Length], v));

        var lut = Const(new Tensor(null, DataType.Int8, [256, 5], new MemoryTensorData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(TernaryLut.Table).ToArray())));
        // Gather refuses uint8 indices in ONNX Runtime: widen first.
        var idx = Op("Cast", [packed], Attribute.Int("to", (long)DataType.Int32));
        var trits = Op("Gather", [lut, idx], Attribute.Int("axis", 0));                  // [M, R, 5]
        var flat = Op("Reshape", [trits, Ints(0, -1)]);                                     // [M, R*5]
        var shape = Op("Constant", [], Attribute.Reference("value_ints", "shape", AttributeKind.Ints));
        var axis = Op("Constant", [], Attribute.Reference("value_int", "axis", AttributeKind.Int));
        var axis1 = Op("Reshape", [axis, Ints(1)]);
        var k = Op("Gather", [shape, axis1], Attribute.Int("axis", 0));                   // [1]
        var kept = Op("Slice", [flat, Ints(0), k, Ints(1)]);                                // [M, K]
        // Channels are the dims before the axis (pre) and after it (post), in row-major order, so
        // [M, K] = [pre, post, K] and the logical shape is [pre, K, post]: one fixed transpose.
        // All reshaping happens on the int8 trits (1 byte per weight) and the result turns into T
        // only at the end: a runtime that folds the decode at load time (ONNX Runtime) then holds
        // two full-size T tensors at most, not five.
        var axisPlus1 = Op("Add", [axis1, Ints(1)]);
        var preDims = Op("Slice", [shape, Ints(0), axis1, Ints(0)]);
        var postDims = Op("Slice", [shape, axisPlus1, Ints(long.MaxValue), Ints(0)]);
        var pre = Prod(Op("Concat", [Ints(1), preDims], Attribute.Int("axis", 0)));
        var post = Prod(Op("Concat", [Ints(1), postDims], Attribute.Int("axis", 0)));
        var r3 = Op("Concat", [pre, post, k], Attribute.Int("axis", 0));
        var cube = Op("Reshape", [kept, r3]);
        var turned = Op("Transpose", [cube], Attribute.Ints("perm", [0, 2, 1]));
        var tritsInShape = Op("Reshape", [turned, shape]);                                   // int8, logical shape
        // The scale, one per channel (or one for all, expanded to every channel), broadcast along the axis.
        var channels = Op("Mul", [pre, post]);
        var perChannel = Op("Expand", [Op("Reshape", [scale, Ints(-1)]), channels]);       // [M]
        var scaleShape = Op("Concat", [preDims, Ints(1), postDims], Attribute.Int("axis", 0));
        var s = Op("Reshape", [perChannel, scaleShape]);                                    // shape with K -> 1
        Value w;
        if (opset >= 15)
            w = Op("Mul", [Op("CastLike", [tritsInShape, scale]), s]);
        else
        {
            // No CastLike before opset 15: pick scale, -scale or zero per trit (exact, type-agnostic).
            var one = Const(Tensor.FromArray<sbyte>(null, DataType.Int8, [], [1]));
            var minusOne = Const(Tensor.FromArray<sbyte>(null, DataType.Int8, [], [-1]));
            var zero = Op("Sub", [s, s]);
            var neg = Op("Neg", [s]);
            var inner = Op("Where", [Op("Equal", [tritsInShape, minusOne]), neg, zero]);
            w = Op("Where", [Op("Equal", [tritsInShape, one]), s, inner]);
        }
        body.Rename(w, "W");
        body.Outputs.Add(w);
        return f;

        Value Prod(Value v) => opset >= 18
            ? Op("ReduceProd", [v, Ints(0)], Attribute.Int("keepdims", 1))
            : Op("ReduceProd", [v], Attribute.Ints("axes", [0]), Attribute.Int("keepdims", 1));
    }
}

/// <summary>For targets that decode natively and asked for no fallback: drops the function body.</summary>
public sealed class RemoveTernaryDecodeFunction : InPlacePass
{
    public override string Name => "RemoveTernaryDecodeFunction";
    protected override int Apply(Model model, PassContext context) =>
        model.Functions.RemoveAll(f => f.Domain == TernaryDecodeOp.Domain && f.Name == TernaryDecodeOp.OpType);
}
