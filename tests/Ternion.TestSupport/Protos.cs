using Google.Protobuf;
using Ternion.IR.Onnx;

namespace Ternion.TestSupport;

/// <summary>Small ModelProto builders for tests that need a model written field by field (including broken ones).</summary>
public static class Protos
{
    public static ValueInfoProto Float(string name, params long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = shape } } };
    }

    public static NodeProto Node(string op, string[] inputs, string[] outputs, string? domain = null)
    {
        var n = new NodeProto { OpType = op };
        if (domain is not null) n.Domain = domain;
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        return n;
    }

    /// <summary>y = Relu(x) over float [2, 3]: the smallest valid model.</summary>
    public static ModelProto Tiny()
    {
        var g = new GraphProto { Name = "tiny" };
        g.Input.Add(Float("x", 2, 3));
        g.Output.Add(Float("y", 2, 3));
        g.Node.Add(Node("Relu", ["x"], ["y"]));
        return Wrap(g);
    }

    public static ModelProto Wrap(GraphProto g, long opset = 17)
    {
        var m = new ModelProto { IrVersion = 8, ProducerName = "ternion-tests", Graph = g };
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        return m;
    }

    public static TensorProto FloatTensor(string name, long[] dims, float[] values)
    {
        var t = new TensorProto { Name = name, DataType = 1 };
        t.Dims.AddRange(dims);
        var bytes = new byte[values.Length * 4];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        t.RawData = ByteString.CopyFrom(bytes);
        return t;
    }

    public static void Write(ModelProto m, string path)
    {
        using var f = File.Create(path);
        m.WriteTo(f);
    }
}
