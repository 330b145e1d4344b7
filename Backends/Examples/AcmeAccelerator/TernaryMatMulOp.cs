using System.Runtime.InteropServices;
using Ternion.IR;
using Ternion.IR.Ternary;

namespace Acme.Npu;

/// <summary>
/// com.acme::TernaryMatMul(X, P, s) -> Y: X times the [K, N] ternary weight whose TTF1 rows (one per
/// output channel, packed along K) are P [N, RowBytes] and whose scale s is [] or [N]. The attributes
/// K, N, axis (always 0: packed along K) and block_size describe P's layout to the accelerator.
/// </summary>
public static class TernaryMatMulOp
{
    public const string Domain = "com.acme";
    public const string OpType = "TernaryMatMul";
    public const long Version = 1;

    public static bool Is(Node n) => n.OpType == OpType && n.DomainName == Domain;

    /// <summary>
    /// The reference body in standard ops, so any ONNX runtime (and our tests, on ONNX Runtime) can
    /// run what the NPU runs: decode P with the TTF1 table, keep K trits per row, scale, turn
    /// [N, K] into [K, N], multiply. It reads only K: N follows from P, and block size only pads
    /// rows. It does not call com.ternion::TernaryDecode because that op takes its layout as one
    /// ints attribute (shape), which a function body cannot assemble from K and N.
    /// Needs default-domain opset 15 (CastLike).
    /// </summary>
    public static Function Body(long opset)
    {
        var body = new Graph(new NameAuthority()) { Name = OpType };
        var f = new Function(Domain, OpType, body) { DocString = "Acme NPU ternary MatMul: X @ TTF1-decode(P, s), in standard ops." };
        f.AttributeNames.AddRange(["K", "N", "axis", "block_size"]);
        f.OpsetImports.Add(new OpsetId("", opset));
        var x = body.AddInput("X", null);
        var p = body.AddInput("P", null);
        var s = body.AddInput("s", null);

        Value Op(string op, Value?[] inputs, params Attribute[] attrs) => body.Append(new Node("", op, inputs, 1, attrs)).Output();
        Value Ints(params long[] v) => Op("Constant", [], Attribute.FromTensor("value", Tensor.FromArray(null, DataType.Int64, [v.Length], v)));

        var lut = Op("Constant", [], Attribute.FromTensor("value",
            new Tensor(null, DataType.Int8, [256, TernaryLut.TritsPerByte], new MemoryTensorData(MemoryMarshal.AsBytes(TernaryLut.Table).ToArray()))));
        var index = Op("Cast", [p], Attribute.Int("to", (long)DataType.Int32));          // Gather takes no uint8 indices
        var trits = Op("Gather", [lut, index], Attribute.Int("axis", 0));                // [N, R, 5]
        var rows = Op("Reshape", [trits, Ints(0, -1)]);                                   // [N, R*5]
        var k = Op("Reshape", [Op("Constant", [], Attribute.Reference("value_int", "K", AttributeKind.Int)), Ints(1)]);
        var kept = Op("Slice", [rows, Ints(0), k, Ints(1)]);                              // [N, K]
        var scaled = Op("Mul", [Op("CastLike", [kept, s]), Op("Reshape", [s, Ints(-1, 1)])]);
        var w = Op("Transpose", [scaled], Attribute.Ints("perm", [1, 0]));               // [K, N]
        var y = Op("MatMul", [x, w]);
        body.Rename(y, "Y");
        body.Outputs.Add(y);
        return f;
    }
}
