using Google.Protobuf;
using Ternion.IR.Onnx;

namespace Ternion.IR.Serialization;

/// <summary>Turns a parsed ModelProto into the IR, checking what the IR relies on (names defined, sizes consistent).</summary>
internal sealed class ProtoReader
{
    private readonly string _file;
    private readonly string? _baseDir;
    /// <summary>The folder the model file really is in, when it is reached through a link (see <see cref="PathSafety.ResolveInside(string, string, string, string?)"/>).</summary>
    private readonly string? _physicalDir;
    private readonly Dictionary<string, (string Full, FileInfo Info)> _resolved = new(StringComparer.Ordinal);
    private readonly LoadLimits _limits;
    private long _nodeCount;
    private readonly HashSet<string> _attributeNames = new(StringComparer.Ordinal);

    private readonly IReadOnlyDictionary<TensorProto, TensorPayload>? _payloads;

    /// <param name="payloads">Data fields left in the file at load, by the parsed TensorProto they were cut from.</param>
    public ProtoReader(string file, string? baseDir, LoadLimits limits, IReadOnlyDictionary<TensorProto, TensorPayload>? payloads = null, string? physicalDir = null)
    {
        _file = file; _baseDir = baseDir; _limits = limits; _payloads = payloads; _physicalDir = physicalDir;
    }

    private ModelFormatException Error(string problem) => new(_file, problem);

    public Model ReadModel(ModelProto p)
    {
        if (p.Graph is null)
            throw Error(p.CalculateSize() == 0 ? "not an ONNX model (no fields recognised)" : "not an ONNX model: it has no graph");
        var graph = new Graph();
        var model = new Model(graph)
        {
            IrVersion = p.HasIrVersion ? p.IrVersion : null,
            ProducerName = p.HasProducerName ? p.ProducerName : null,
            ProducerVersion = p.HasProducerVersion ? p.ProducerVersion : null,
            Domain = p.HasDomain ? p.Domain : null,
            ModelVersion = p.HasModelVersion ? p.ModelVersion : null,
            DocString = p.HasDocString ? p.DocString : null,
        };
        model.OpsetImports.AddRange(p.OpsetImport.Select(ReadOpset));
        model.Metadata.AddRange(p.MetadataProps.Select(MetadataEntry.FromProto));
        model.TrainingInfo.AddRange(p.TrainingInfo);
        model.Configurations.AddRange(p.Configuration);
        ReadGraphInto(graph, p.Graph, depth: 0);
        foreach (var f in p.Functions) model.Functions.Add(ReadFunction(f));
        return model;
    }

    internal static OpsetId ReadOpset(OperatorSetIdProto o) => new(o.HasDomain ? o.Domain : null, o.HasVersion ? o.Version : null);

    private Function ReadFunction(FunctionProto f)
    {
        var body = new Graph(new NameAuthority());
        string fname = $"function '{f.Domain}::{f.Name}'";
        var fn = new Function(f.Domain, f.Name, body)
        {
            Domain = f.HasDomain ? f.Domain : null,
            Name = f.HasName ? f.Name : null,
            Overload = f.HasOverload ? f.Overload : null,
            DocString = f.HasDocString ? f.DocString : null,
        };
        fn.AttributeNames.AddRange(f.Attribute);
        fn.OpsetImports.AddRange(f.OpsetImport.Select(ReadOpset));
        fn.Metadata.AddRange(f.MetadataProps.Select(MetadataEntry.FromProto));
        foreach (var name in f.Input)
        {
            var v = new Value(name);
            body.Names.Note(name);
            AddChecked(() => body.Inputs.Add(v), fname);
        }
        ReadNodes(body, f.Node, 0, fname);
        foreach (var name in f.Output)
        {
            var v = body.Lookup(name) ?? throw Error($"{fname}: output '{name}' is not produced by any node of its body");
            body.Outputs.Add(v);
        }
        foreach (var vi in f.ValueInfo) AddValueInfo(body, vi);
        foreach (var a in f.AttributeProto) fn.AttributeDefaults.Add(ReadAttribute(a, null, 0, fname));
        return fn;
    }

    private void AddChecked(Action add, string where)
    {
        try { add(); }
        catch (IrMutationException e) { throw Error($"{where}: {e.Message}"); }
    }

    private void ReadGraphInto(Graph g, GraphProto p, int depth)
    {
        if (depth > _limits.MaxSubgraphDepth)
            throw Error($"subgraphs are nested deeper than {_limits.MaxSubgraphDepth} levels");
        g.Name = p.HasName ? p.Name : null;
        g.DocString = p.HasDocString ? p.DocString : null;
        g.Metadata.AddRange(p.MetadataProps.Select(MetadataEntry.FromProto));
        string where = $"graph '{p.Name}'";

        foreach (var vi in p.Input)
        {
            var v = new Value(vi.Name);
            ApplyValueInfo(v, vi);
            if (g.LookupLocal(vi.Name) is not null) throw Error($"{where}: input '{vi.Name}' is declared twice");
            AddChecked(() => g.Inputs.Add(v), where);
        }
        foreach (var tp in p.Initializer)
        {
            var t = ReadTensor(tp, $"initializer '{tp.Name}'");
            var existing = g.LookupLocal(tp.Name);
            if (existing is not null && existing.IsGraphInput && existing.Initializer is null)
            {
                existing.Initializer = t;
                g.Initializers.Add(existing);
            }
            else if (existing is not null)
                throw Error($"{where}: initializer '{tp.Name}' is defined twice");
            else
            {
                var v = new Value(tp.Name) { Initializer = t };
                AddChecked(() => g.Initializers.Add(v), where);
            }
        }
        foreach (var sp in p.SparseInitializer)
        {
            string name = sp.Values?.Name ?? "";
            var existing = g.LookupLocal(name);
            if (existing is not null && existing.IsGraphInput && existing.SparseInitializer is null && existing.Initializer is null)
            {
                existing.SparseInitializer = sp;
                g.SparseInitializers.Add(existing);
            }
            else if (existing is not null) throw Error($"{where}: sparse initializer '{name}' is defined twice");
            else
            {
                var v = new Value(name) { SparseInitializer = sp };
                AddChecked(() => g.DefineSparse(v), where);
                g.SparseInitializers.Add(v);
            }
        }
        ReadNodes(g, p.Node, depth, where);
        foreach (var vi in p.Output)
        {
            var v = g.Lookup(vi.Name) ?? throw Error($"{where}: output '{vi.Name}' is not produced by any node and is not an input or initializer");
            if (v.Type is null && v.DocString is null && v.Metadata.Count == 0) ApplyValueInfo(v, vi);
            else if (!SameInfo(v, vi)) { var shadow = new Value(vi.Name); ApplyValueInfo(shadow, vi); g.OutputDeclarations[v] = shadow; }
            g.Outputs.Add(v);
        }
        foreach (var vi in p.ValueInfo) AddValueInfo(g, vi);
        g.QuantizationAnnotations.AddRange(p.QuantizationAnnotation);
    }

    private void ReadNodes(Graph g, IEnumerable<NodeProto> nodes, int depth, string where)
    {
        var created = new List<(Node, NodeProto)>();
        foreach (var np in nodes)
        {
            if (++_nodeCount > _limits.MaxNodes) throw Error($"the model has more than {_limits.MaxNodes:N0} nodes");
            // ONNX requires op_type; a node without one means nothing, and every pass (plugins too)
            // may rely on Node.OpType being set.
            if (!np.HasOpType || np.OpType.Length == 0)
                throw Error($"{where}: node {(np.Name.Length > 0 ? $"'{np.Name}'" : $"producing '{(np.Output.Count > 0 ? np.Output[0] : "")}'")} has no op_type");
            var outputs = np.Output.Select(o => o.Length == 0 ? null : new Value(o)).ToList();
            var node = new Node(np.HasDomain ? np.Domain : null, np.OpType, [], outputs)
            {
                Name = np.HasName ? np.Name : null,
                Overload = np.HasOverload ? np.Overload : null,
                DocString = np.HasDocString ? np.DocString : null,
            };
            node.Metadata.AddRange(np.MetadataProps.Select(MetadataEntry.FromProto));
            node.DeviceConfigurations.AddRange(np.DeviceConfigurations);
            try { g.Append(node); }
            catch (IrMutationException)
            {
                var dup = outputs.First(o => o is not null && g.LookupLocal(o.Name) is { } other && !ReferenceEquals(other, o))!;
                throw Error($"{where}: value '{dup.Name}' is produced twice (second time by node {Describe(np)})");
            }
            created.Add((node, np));
        }
        foreach (var (node, np) in created)
        {
            foreach (var name in np.Input)
            {
                if (name.Length == 0) { node.AppendInput(null); continue; }
                var v = g.Lookup(name) ?? throw Error($"{where}: node {Describe(np)} uses '{name}', which is not defined (no node, input or initializer of that name)");
                node.AppendInput(v);
            }
            if (np.Attribute.Count > _limits.MaxAttributeValues)
                throw Error($"{where}: node {Describe(np)} has {np.Attribute.Count:N0} attributes, more than the limit of {_limits.MaxAttributeValues:N0}");
            // Two attributes of one name would make the node ambiguous, and the IR keeps one: refuse
            // rather than drop one. Checked before reading any, as reading recurses into subgraphs.
            _attributeNames.Clear();
            foreach (var ap in np.Attribute)
                if (!_attributeNames.Add(ap.Name)) throw Error($"{where}: node {Describe(np)} has the attribute '{ap.Name}' twice");
            foreach (var ap in np.Attribute)
                node.AppendNewAttribute(ReadAttribute(ap, node, depth, $"node {Describe(np)}"));
        }
    }

    private static string Describe(NodeProto np) =>
        np.Name.Length > 0 ? $"'{np.Name}' ({np.OpType})" : $"{np.OpType} -> {(np.Output.Count > 0 ? np.Output[0] : "?")}";

    private Attribute ReadAttribute(AttributeProto ap, Node? owner, int depth, string where)
    {
        var rest = ap.Clone();
        rest.T = null; rest.G = null; rest.Tensors.Clear(); rest.Graphs.Clear();
        Tensor? t = ap.T is null ? null : ReadTensor(ap.T, $"{where}: attribute '{ap.Name}'");
        var ts = ap.Tensors.Select((x, i) => ReadTensor(x, $"{where}: attribute '{ap.Name}'[{i}]")).ToList();
        Graph? g = ap.G is null ? null : ReadSubgraph(ap.G, owner, depth);
        var gs = ap.Graphs.Select(x => ReadSubgraph(x, owner, depth)).ToList();
        return new Attribute(rest, t, ts, g, gs);
    }

    private Graph ReadSubgraph(GraphProto gp, Node? owner, int depth)
    {
        var sub = new Graph();
        // The scope of a subgraph is its node's graph: set the parent before reading so outer names resolve.
        sub.ParentNode = owner;
        if (owner is null) sub.Names = new NameAuthority();
        ReadGraphInto(sub, gp, depth + 1);
        return sub;
    }

    private void AddValueInfo(Graph g, ValueInfoProto vi)
    {
        var v = g.LookupLocal(vi.Name);
        if (v is not null && v.Type is null && v.DocString is null && v.Metadata.Count == 0 && !g.ValueInfos.Contains(v))
        {
            ApplyValueInfo(v, vi);
            g.ValueInfos.Add(v);
        }
        else if (v is not null && SameInfo(v, vi) && !g.ValueInfos.Contains(v))
            g.ValueInfos.Add(v);
        else
        {
            // A record for a name this graph does not define, or one that disagrees with another
            // declaration: kept as a detached annotation so the file round-trips.
            var shadow = new Value(vi.Name);
            ApplyValueInfo(shadow, vi);
            g.ValueInfos.Add(shadow);
        }
    }

    private static void ApplyValueInfo(Value v, ValueInfoProto vi)
    {
        v.Type = vi.Type is null ? null : IrType.FromProto(vi.Type);
        v.DocString = vi.HasDocString ? vi.DocString : null;
        v.Metadata.AddRange(vi.MetadataProps.Select(MetadataEntry.FromProto));
    }

    private static bool SameInfo(Value v, ValueInfoProto vi) =>
        Equals(v.Type, vi.Type is null ? null : IrType.FromProto(vi.Type))
        && v.DocString == (vi.HasDocString ? vi.DocString : null)
        && v.Metadata.SequenceEqual(vi.MetadataProps.Select(MetadataEntry.FromProto));

    public Tensor ReadTensor(TensorProto p, string what)
    {
        foreach (var d in p.Dims)
            if (d < 0) throw Error($"{what}: negative dimension {d} in dims [{string.Join(",", p.Dims)}]");
        var dims = p.Dims.ToArray();
        long elements = Tensor.ElementCountOf(dims);
        if (elements < 0) throw Error($"{what}: dims [{string.Join(",", dims)}] overflow a 64-bit element count");
        var type = (DataType)p.DataType;
        long expectedBytes = DataTypes.ByteCount(type, elements);
        if (expectedBytes > _limits.MaxTensorBytes)
            throw Error($"{what}: dims [{string.Join(",", dims)}] of {DataTypes.OnnxName(type)} need {expectedBytes:N0} bytes, over the {_limits.MaxTensorBytes:N0}-byte tensor limit");
        bool external = p.DataLocation == TensorProto.Types.DataLocation.External;
        if (p.ExternalData.Count > 0 && !external)
            throw Error($"{what}: has external_data entries but data_location is not EXTERNAL");

        TensorData data;
        TensorProto? residue = null;
        if (external)
        {
            data = ReadExternal(p, what, expectedBytes);
            residue = new TensorProto();
            if (p.Segment is not null) residue.Segment = p.Segment.Clone();
            foreach (var e in p.ExternalData)
                if (e.Key is not ("location" or "offset" or "length" or "checksum")) residue.ExternalData.Add(e.Clone());
        }
        else
        {
            TensorPayload? payload = null;
            _payloads?.TryGetValue(p, out payload);
            if (p.HasDataType && DataTypes.IsKnown(p.DataType) && p.Segment is null)
            {
                if (type == DataType.String)
                {
                    if (p.StringData.Count != elements && !(elements == 0 && p.StringData.Count == 0))
                        throw Error($"{what}: holds {p.StringData.Count} strings but dims [{string.Join(",", dims)}] need {elements}");
                }
                else if (p.HasRawData || payload is { IsRaw: true })
                {
                    long rawLength = payload is { IsRaw: true } ? payload.Length : p.RawData.Length;
                    if (rawLength != expectedBytes)
                        throw Error($"{what}: raw_data has {rawLength:N0} bytes but dims [{string.Join(",", dims)}] of {DataTypes.OnnxName(type)} need {expectedBytes:N0}" + (rawLength < expectedBytes ? " (data shorter than its dims)" : " (data longer than its dims)"));
                }
                else
                {
                    long have = payload is { } typed && typed.Field == TensorPayload.TypedFieldOf(type) ? typed.Count : ProtoTensorData.TypedCount(p, type);
                    long want = ProtoTensorData.ExpectedTypedCount(type, elements);
                    if (have != want)
                        throw Error($"{what}: holds {have:N0} values but dims [{string.Join(",", dims)}] of {DataTypes.OnnxName(type)} need {want:N0}" + (have < want ? " (data shorter than its dims)" : " (data longer than its dims)"));
                }
            }
            data = new ProtoTensorData(p, type, elements, payload);
        }
        var t = new Tensor(p.HasName ? p.Name : null, type, dims, data)
        {
            RawDataType = p.HasDataType ? p.DataType : null,
            DocString = p.HasDocString ? p.DocString : null,
            Residue = residue,
        };
        t.Metadata.AddRange(p.MetadataProps.Select(MetadataEntry.FromProto));
        return t;
    }

    private ExternalTensorData ReadExternal(TensorProto p, string what, long expectedBytes)
    {
        string? location = null; long offset = 0; long? length = null; string? checksum = null;
        foreach (var e in p.ExternalData)
        {
            switch (e.Key)
            {
                case "location": location = e.Value; break;
                case "offset":
                    if (!long.TryParse(e.Value, out offset) || offset < 0) throw Error($"{what}: external data offset '{e.Value}' is not a non-negative integer");
                    break;
                case "length":
                    if (!long.TryParse(e.Value, out var l) || l < 0) throw Error($"{what}: external data length '{e.Value}' is not a non-negative integer");
                    length = l;
                    break;
                case "checksum": checksum = e.Value; break;
            }
        }
        if (location is null) throw Error($"{what}: external data has no 'location'");
        if (_baseDir is null) throw Error($"{what}: has external data ('{location}') but the model was not read from a file, so there is no folder to find it in");
        // Resolved once per file: a model's tensors share a few data files, and resolving walks every link.
        if (!_resolved.TryGetValue(location, out var resolved))
        {
            string where, real;
            try { where = PathSafety.ResolveInside(_baseDir, location, what, _physicalDir, out real); }
            catch (TernionException e) { throw Error(e.Message); }
            _resolved[location] = resolved = (where, new FileInfo(real));
        }
        var (full, info) = resolved;
        if (!info.Exists) throw Error($"{what}: external data file '{location}' does not exist");
        long len = length ?? (expectedBytes >= 0 ? expectedBytes : info.Length - offset);
        if (offset > info.Length || len > info.Length - offset)
            throw Error($"{what}: external data (offset {offset:N0}, length {len:N0}) runs past the end of '{location}' ({info.Length:N0} bytes)");
        if (expectedBytes >= 0 && len != expectedBytes)
            throw Error($"{what}: external data length {len:N0} does not match dims [{string.Join(",", p.Dims)}] of {DataTypes.OnnxName((DataType)p.DataType)} ({expectedBytes:N0} bytes)");
        return new ExternalTensorData(full, location, offset, len, checksum);
    }
}
