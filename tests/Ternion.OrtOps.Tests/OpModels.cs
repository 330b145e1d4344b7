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

    public static byte[] Bytes(Model m) => ModelSerializer.ToBytes(m);
}
