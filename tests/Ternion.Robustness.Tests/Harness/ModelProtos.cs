using Google.Protobuf;
using Ternion.IR;
using Ternion.IR.Onnx;
using Ternion.IR.Ternary;
using Ternion.TestSupport;

namespace Ternion.Robustness.Tests.Harness;

/// <summary>Proto-level builders for the hostile corpus (on top of TestSupport's <see cref="Protos"/>).</summary>
public static class ModelProtos
{
    public static ValueInfoProto Typed(string name, int elemType, params long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = elemType, Shape = shape } } };
    }

    public static ValueInfoProto Bool(string name) => Typed(name, (int)DataType.Bool);

    public static AttributeProto GraphAttr(string name, GraphProto g) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Graph, G = g };

    public static AttributeProto IntAttr(string name, long v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = v };

    public static AttributeProto IntsAttr(string name, params long[] v)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(v);
        return a;
    }

    /// <summary>A branch graph with one output <paramref name="output"/> = Identity(<paramref name="reads"/>).</summary>
    public static GraphProto Branch(string name, string reads, string output)
    {
        var g = new GraphProto { Name = name };
        g.Node.Add(Protos.Node("Identity", [reads], [output]));
        g.Output.Add(Protos.Float(output, 2, 3));
        return g;
    }

    public static NodeProto If(string cond, string output, GraphProto then, GraphProto @else)
    {
        var n = Protos.Node("If", [cond], [output]);
        n.Attribute.Add(GraphAttr("then_branch", then));
        n.Attribute.Add(GraphAttr("else_branch", @else));
        return n;
    }

    /// <summary>x float[2,3], c bool -> y: the frame for the subgraph cases.</summary>
    public static GraphProto WithCondition(string name)
    {
        var g = new GraphProto { Name = name };
        g.Input.Add(Protos.Float("x", 2, 3));
        g.Input.Add(Bool("c"));
        g.Output.Add(Protos.Float("y", 2, 3));
        return g;
    }

    /// <summary>If nodes nested <paramref name="depth"/> levels (each then_branch holds the next).</summary>
    public static ModelProto NestedIfs(int depth)
    {
        GraphProto level = Branch("g0", "x", "o0");
        for (int d = 1; d <= depth; d++)
        {
            var g = new GraphProto { Name = $"g{d}" };
            g.Node.Add(If("c", $"o{d}", level, Branch($"e{d}", "x", $"oe{d}")));
            g.Output.Add(Protos.Float($"o{d}", 2, 3));
            level = g;
        }
        var main = WithCondition("nested");
        main.Node.Add(If("c", "y", level, Branch("e", "x", "oe")));
        return Protos.Wrap(main);
    }

    public static TensorProto TypedFloats(string name, long[] dims, int count)
    {
        var t = new TensorProto { Name = name, DataType = (int)DataType.Float };
        t.Dims.AddRange(dims);
        t.FloatData.AddRange(new float[count]);
        return t;
    }

    public static TensorProto External(string name, long[] dims, string location, string offset, string length)
    {
        var t = new TensorProto { Name = name, DataType = (int)DataType.Float, DataLocation = TensorProto.Types.DataLocation.External };
        t.Dims.AddRange(dims);
        t.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = location });
        t.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset });
        t.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = length });
        return t;
    }

    /// <summary>y = Relu(x) + w with w a float[4] initializer, stored as <paramref name="w"/> says.</summary>
    public static ModelProto ReadsInitializer(TensorProto w)
    {
        var m = Protos.Tiny();
        m.Graph.Node.Clear();
        m.Graph.Input[0] = Protos.Float("x", 4);
        m.Graph.Output[0] = Protos.Float("y", 4);
        m.Graph.Node.Add(Protos.Node("Add", ["x", w.Name], ["y"]));
        m.Graph.Initializer.Add(w);
        return m;
    }

    /// <summary>
    /// A model as `ternion compile` leaves it for a TernaryDecode target: y = x @ W where W is
    /// com.ternion::TernaryDecode(packed, scale) with shape [K, N] packed along axis 0. The packed
    /// bytes are a real TTF1 encoding of a ternary matrix; <paramref name="edit"/> breaks it.
    /// </summary>
    public static ModelProto TernaryDecodeModel(Action<NodeProto, TensorProto, TensorProto>? edit = null, int k = 640, int n = 8)
    {
        var layout = new TernaryLayout([k, n], 0);
        var rng = new Random(7);
        var values = Enumerable.Range(0, k * n).Select(_ => (float)(rng.Next(3) - 1)).ToArray();
        var packedBytes = new byte[layout.PackedBytes];
        TernaryCodec.Encode(values, layout, 1f, packedBytes).ThrowIfFailed("w", layout);
        var packed = new TensorProto { Name = "w.ttf1", DataType = (int)DataType.UInt8, RawData = ByteString.CopyFrom(packedBytes) };
        packed.Dims.AddRange([layout.M, layout.RowBytes]);
        var scale = Protos.FloatTensor("w.scale", [], [0.5f]);
        var decode = Protos.Node("TernaryDecode", ["w.ttf1", "w.scale"], ["w"], "com.ternion");
        decode.Attribute.Add(IntsAttr("shape", k, n));
        decode.Attribute.Add(IntAttr("axis", 0));
        decode.Attribute.Add(IntAttr("block_size", 320));
        edit?.Invoke(decode, packed, scale);

        var g = new GraphProto { Name = "ternary" };
        g.Input.Add(Protos.Float("x", 2, k));
        g.Output.Add(Protos.Float("y", 2, n));
        g.Initializer.Add(packed);
        g.Initializer.Add(scale);
        g.Node.Add(decode);
        g.Node.Add(Protos.Node("MatMul", ["x", "w"], ["y"]));
        var m = Protos.Wrap(g);
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.ternion", Version = 1 });
        return m;
    }

    /// <summary>
    /// y = com.microsoft::MatMulNBits(x, B, scales[, zero_points]) with a ternary 4-bit weight (K = 64,
    /// N = 16, block 32) whose sizes agree with the attributes until <paramref name="edit"/> changes them.
    /// </summary>
    public static ModelProto MatMulNBitsModel(Action<NodeProto, TensorProto, TensorProto, TensorProto>? edit = null, int k = 64, int n = 16)
    {
        const int block = 32, bits = 4;
        int blocks = (k + block - 1) / block, blob = block * bits / 8;
        var rng = new Random(9);
        var codes = new byte[n * blocks * blob];
        for (int i = 0; i < codes.Length; i++) codes[i] = (byte)((rng.Next(3) * 7 + 1) | ((rng.Next(3) * 7 + 1) << 4)); // codes 1, 8, 15
        var b = new TensorProto { Name = "w.qweight", DataType = (int)DataType.UInt8, RawData = ByteString.CopyFrom(codes) };
        b.Dims.AddRange([n, blocks, blob]);
        var scales = Protos.FloatTensor("w.scales", [n * blocks], Enumerable.Repeat(0.01f, n * blocks).ToArray());
        var zp = new TensorProto { Name = "w.qzeros", DataType = (int)DataType.UInt8, RawData = ByteString.CopyFrom(Enumerable.Repeat((byte)0x88, n * ((blocks * bits + 7) / 8)).ToArray()) };
        zp.Dims.Add(zp.RawData.Length);
        var node = Protos.Node("MatMulNBits", ["x", "w.qweight", "w.scales", "w.qzeros"], ["y"], "com.microsoft");
        node.Name = "layer0.q_proj";
        node.Attribute.Add(IntAttr("K", k));
        node.Attribute.Add(IntAttr("N", n));
        node.Attribute.Add(IntAttr("bits", bits));
        node.Attribute.Add(IntAttr("block_size", block));
        edit?.Invoke(node, b, scales, zp);
        var g = new GraphProto { Name = "nbits" };
        g.Input.Add(Protos.Float("x", 2, k));
        g.Output.Add(Protos.Float("y", 2, n));
        g.Initializer.Add(b);
        g.Initializer.Add(scales);
        g.Initializer.Add(zp);
        g.Node.Add(node);
        var m = Protos.Wrap(g);
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.microsoft", Version = 1 });
        return m;
    }

    /// <summary>A chain x -> Relu -> Relu ... -> y of <paramref name="nodes"/> nodes: large, and valid.</summary>
    public static ModelProto Chain(int nodes)
    {
        var g = new GraphProto { Name = "chain" };
        g.Input.Add(Protos.Float("x", 2, 3));
        g.Output.Add(Protos.Float("y", 2, 3));
        for (int i = 0; i < nodes; i++)
            g.Node.Add(Protos.Node("Relu", [i == 0 ? "x" : $"v{i - 1}"], [i == nodes - 1 ? "y" : $"v{i}"]));
        return Protos.Wrap(g);
    }
}
