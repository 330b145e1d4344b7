using Ternion.Backends.Kernels.Ops;
using Ternion.IR;
using Ternion.IR.Serialization;
using Ternion.IR.Ternary;

namespace Ternion.OrtOps.Tests;

/// <summary>One-node models of the com.ternion operators, with their inputs as graph inputs or initializers.</summary>
public static class OpModels
{
    public static Model Decode(long[] shape, int axis, int blockSize, DataType scaleType, long[] scaleDims, byte[]? packedConstant = null)
    {
        var layout = new TernaryLayout(shape, axis, blockSize);
        var g = new Graph { Name = "decode" };
        var m = new Model(g) { IrVersion = 10, ProducerName = "ternion-tests" };
        m.OpsetImports.Add(new OpsetId("", 21));
        m.OpsetImports.Add(new OpsetId(TernaryOps.Domain, 1));
        Value packed = packedConstant is null
            ? g.AddInput("packed", IrType.Tensor(DataType.UInt8, new Shape([Dim.Symbol("m"), Dim.Symbol("r")])))
            : g.AddInitializer(new Tensor("packed", DataType.UInt8, [layout.M, layout.RowBytes], new MemoryTensorData(packedConstant)));
        var scale = g.AddInput("scale", IrType.Tensor(scaleType, scaleDims));
        var node = new Node(TernaryOps.Domain, TernaryOps.Decode, [packed, scale], 1,
            [Attribute.Ints("shape", shape), Attribute.Int("axis", axis), Attribute.Int("block_size", blockSize)], name: "decode_w");
        var w = g.Append(node).Output();
        g.Rename(w, "w");
        w.Type = IrType.Tensor(scaleType, shape);
        g.Outputs.Add(w);
        return m;
    }

    /// <summary>
    /// Y = TernaryMatMul(X, packed, scale[, bias]) (or the absmax-int8 variant) with X [batch..., K]
    /// of symbolic batch dims; packed is a graph input unless given as a constant.
    /// </summary>
    public static Model MatMul(int k, int n, int blockSize, DataType type, int xRank, bool perChannel, bool bias,
        byte[]? packedConstant = null, bool absmaxInt8 = false)
    {
        var layout = TernaryLayout.Matrix(n, k, blockSize);
        var g = new Graph { Name = "matmul" };
        var m = new Model(g) { IrVersion = 10, ProducerName = "ternion-tests" };
        m.OpsetImports.Add(new OpsetId("", 21));
        m.OpsetImports.Add(new OpsetId(TernaryOps.Domain, 1));
        var xDims = Enumerable.Range(0, xRank - 1).Select(i => Dim.Symbol("b" + i)).Append(Dim.Of(k)).ToArray();
        var x = g.AddInput("x", IrType.Tensor(type, new Shape(xDims)));
        Value packed = packedConstant is null
            ? g.AddInput("packed", IrType.Tensor(DataType.UInt8, new Shape([Dim.Symbol("n"), Dim.Symbol("r")])))
            : g.AddInitializer(new Tensor("packed", DataType.UInt8, [layout.M, layout.RowBytes], new MemoryTensorData(packedConstant)));
        var scale = g.AddInput("scale", perChannel ? IrType.Tensor(type, new Shape([Dim.Symbol("channels")])) : IrType.Tensor(type, new Shape(Array.Empty<long>())));
        var inputs = new List<Value?> { x, packed, scale };
        if (bias) inputs.Add(g.AddInput("bias", IrType.Tensor(type, n)));
        var attrs = new List<Attribute> { Attribute.Int("K", k), Attribute.Int("N", n), Attribute.Int("block_size", blockSize) };
        if (absmaxInt8)
            attrs.AddRange([Attribute.Float("quant_max", 127f), Attribute.Float("quant_eps", 1e-5f), Attribute.Int("clip_min", -128), Attribute.Int("clip_max", 127)]);
        var node = new Node(TernaryOps.Domain, absmaxInt8 ? TernaryOps.MatMulAbsmaxInt8 : TernaryOps.MatMul, inputs.ToArray(), 1, attrs.ToArray(), name: "proj");
        var y = g.Append(node).Output();
        g.Rename(y, "y");
        y.Type = IrType.Tensor(type, new Shape(xDims[..^1].Append(Dim.Of(n))));
        g.Outputs.Add(y);
        return m;
    }

    public static byte[] Bytes(Model m) => ModelSerializer.ToBytes(m);
}
