using Google.Protobuf;
using Ternion.IR.Onnx;

namespace Ternion.IR.Serialization;

/// <summary>Turns the IR back into a ModelProto. How each tensor is stored is decided by the caller.</summary>
internal sealed class ProtoWriter
{
    private readonly Func<Tensor, TensorProto> _writeTensor;

    public ProtoWriter(Func<Tensor, TensorProto> writeTensor) { _writeTensor = writeTensor; }

    public ModelProto WriteModel(Model m)
    {
        var p = new ModelProto();
        if (m.IrVersion is long ir) p.IrVersion = ir;
        if (m.ProducerName is not null) p.ProducerName = m.ProducerName;
        if (m.ProducerVersion is not null) p.ProducerVersion = m.ProducerVersion;
        if (m.Domain is not null) p.Domain = m.Domain;
        if (m.ModelVersion is long mv) p.ModelVersion = mv;
        if (m.DocString is not null) p.DocString = m.DocString;
        p.OpsetImport.AddRange(m.OpsetImports.Select(WriteOpset));
        p.Graph = WriteGraph(m.Graph);
        p.MetadataProps.AddRange(m.Metadata.Select(e => e.ToProto()));
        p.TrainingInfo.AddRange(m.TrainingInfo.Select(t => t.Clone()));
        p.Functions.AddRange(m.Functions.Select(WriteFunction));
        p.Configuration.AddRange(m.Configurations.Select(c => c.Clone()));
        return p;
    }

    internal static OperatorSetIdProto WriteOpset(OpsetId o)
    {
        var p = new OperatorSetIdProto();
        if (o.Domain is not null) p.Domain = o.Domain;
        if (o.Version is long v) p.Version = v;
        return p;
    }

    private FunctionProto WriteFunction(Function f)
    {
        var p = new FunctionProto();
        if (f.Name is not null) p.Name = f.Name;
        if (f.Domain is not null) p.Domain = f.Domain;
        if (f.Overload is not null) p.Overload = f.Overload;
        if (f.DocString is not null) p.DocString = f.DocString;
        p.Input.AddRange(f.Body.Inputs.Select(v => v.Name));
        p.Output.AddRange(f.Body.Outputs.Select(v => v.Name));
        p.Attribute.AddRange(f.AttributeNames);
        p.AttributeProto.AddRange(f.AttributeDefaults.Select(WriteAttribute));
        p.Node.AddRange(f.Body.Nodes.Select(WriteNode));
        p.OpsetImport.AddRange(f.OpsetImports.Select(WriteOpset));
        p.ValueInfo.AddRange(f.Body.ValueInfos.Select(WriteValueInfo));
        p.MetadataProps.AddRange(f.Metadata.Select(e => e.ToProto()));
        return p;
    }

    public GraphProto WriteGraph(Graph g)
    {
        var p = new GraphProto();
        if (g.Name is not null) p.Name = g.Name;
        if (g.DocString is not null) p.DocString = g.DocString;
        p.Node.AddRange(g.Nodes.Select(WriteNode));
        foreach (var v in g.Initializers)
        {
            var tp = _writeTensor(v.Initializer!);
            tp.Name = v.Name;
            p.Initializer.Add(tp);
        }
        p.SparseInitializer.AddRange(g.SparseInitializers.Select(v => v.SparseInitializer!.Clone()));
        p.Input.AddRange(g.Inputs.Select(WriteValueInfo));
        p.Output.AddRange(g.Outputs.Select(v => WriteValueInfo(g.OutputDeclarations.TryGetValue(v, out var d) ? d : v)));
        p.ValueInfo.AddRange(g.ValueInfos.Select(WriteValueInfo));
        p.QuantizationAnnotation.AddRange(g.QuantizationAnnotations.Select(q => q.Clone()));
        p.MetadataProps.AddRange(g.Metadata.Select(e => e.ToProto()));
        return p;
    }

    private static ValueInfoProto WriteValueInfo(Value v)
    {
        var p = new ValueInfoProto { Name = v.Name };
        if (v.Type is not null) p.Type = v.Type.ToProto();
        if (v.DocString is not null) p.DocString = v.DocString;
        p.MetadataProps.AddRange(v.Metadata.Select(e => e.ToProto()));
        return p;
    }

    private NodeProto WriteNode(Node n)
    {
        var p = new NodeProto();
        p.Input.AddRange(n.Inputs.Select(v => v?.Name ?? ""));
        p.Output.AddRange(n.Outputs.Select(v => v?.Name ?? ""));
        if (n.Name is not null) p.Name = n.Name;
        if (n.OpType is not null) p.OpType = n.OpType;
        if (n.Domain is not null) p.Domain = n.Domain;
        if (n.Overload is not null) p.Overload = n.Overload;
        if (n.DocString is not null) p.DocString = n.DocString;
        p.Attribute.AddRange(n.Attributes.Select(WriteAttribute));
        p.MetadataProps.AddRange(n.Metadata.Select(e => e.ToProto()));
        p.DeviceConfigurations.AddRange(n.DeviceConfigurations.Select(d => d.Clone()));
        return p;
    }

    private AttributeProto WriteAttribute(Attribute a)
    {
        var p = a.RestProto.Clone();
        if (a.SingleTensor is { } t) p.T = _writeTensor(t);
        p.Tensors.AddRange(a.TensorList.Select(_writeTensor));
        if (a.SingleGraph is { } g) p.G = WriteGraph(g);
        p.Graphs.AddRange(a.GraphList.Select(WriteGraph));
        return p;
    }

    /// <summary>The tensor's header fields (name, dims, type, doc, metadata) as the IR holds them.</summary>
    internal static void WriteHeader(Tensor t, TensorProto p)
    {
        if (t.Name is not null) p.Name = t.Name; else p.ClearName();
        p.Dims.Clear();
        p.Dims.AddRange(t.Dims);
        if (t.RawDataType is int dt) p.DataType = dt; else p.ClearDataType();
        if (t.DocString is not null) p.DocString = t.DocString; else p.ClearDocString();
        p.MetadataProps.Clear();
        p.MetadataProps.AddRange(t.Metadata.Select(e => e.ToProto()));
    }

    /// <summary>
    /// The tensor stored inline, whole (as read when it came inline from a file, else as raw_data).
    /// Saving streams large tensors instead (<see cref="SplicingWriter"/>); this is for in-memory protos.
    /// </summary>
    internal static TensorProto Inline(Tensor t)
    {
        TensorProto p;
        if (t.Data is ProtoTensorData pd)
        {
            p = pd.Proto.Clone();
            pd.Payload?.MaterializeInto(p);
        }
        else
        {
            p = NewWithResidue(t);
            if (t.DataType == DataType.String)
                throw new TernionException($"tensor '{t.Name}': a string tensor must keep its string_data");
            if (t.Data is MemoryTensorData md) p.RawData = UnsafeByteOperations.UnsafeWrap(md.Bytes);
            else
            {
                using var bytes = t.Data.Open();
                p.RawData = ByteString.CopyFrom(bytes.Span);
            }
        }
        WriteHeader(t, p);
        return p;
    }

    internal static TensorProto NewWithResidue(Tensor t)
    {
        var p = new TensorProto();
        if (t.Residue?.Segment is { } seg) p.Segment = seg.Clone();
        return p;
    }
}
