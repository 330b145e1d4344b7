using Ternion.IR.Onnx;

namespace Ternion.IR;

/// <summary>
/// An operator application. Inputs and outputs are <see cref="Value"/>s (null for an omitted
/// optional input or output); setting an input keeps the use-lists right.
/// </summary>
public sealed class Node
{
    private readonly List<Value?> _inputs = new();
    private readonly List<Value?> _outputs = new();
    private readonly List<Attribute> _attributes = new();

    /// <param name="domain">Operator domain; "" (or null when absent in a file) is the default ONNX domain.</param>
    /// <param name="outputs">Output values (fresh, unowned) or null entries for omitted outputs. Values with an empty name are named when the node joins a graph.</param>
    public Node(string? domain, string opType, IEnumerable<Value?> inputs, IEnumerable<Value?> outputs,
        IEnumerable<Attribute>? attributes = null, string? name = null)
    {
        Domain = domain;
        OpType = opType;
        Name = name;
        foreach (var v in inputs) AppendInput(v);
        int i = 0;
        foreach (var o in outputs)
        {
            if (o is not null)
            {
                if (o.Producer is not null || o.Graph is not null)
                    throw new IrMutationException($"value '{o.Name}' already has a producer or belongs to a graph; a node output must be a fresh value");
                o.Producer = this;
                o.ProducerOutputIndex = i;
            }
            _outputs.Add(o);
            i++;
        }
        if (attributes is not null) foreach (var a in attributes) SetAttribute(a);
    }

    /// <summary>Convenience: a node with <paramref name="outputCount"/> fresh, unnamed outputs.</summary>
    public Node(string? domain, string opType, IEnumerable<Value?> inputs, int outputCount,
        IEnumerable<Attribute>? attributes = null, string? name = null)
        : this(domain, opType, inputs, Enumerable.Range(0, outputCount).Select(_ => new Value()), attributes, name) { }

    public string OpType { get; set; }
    /// <summary>Domain as stored: null when the file left it out, "" or "ai.onnx" for the default domain.</summary>
    public string? Domain { get; set; }
    /// <summary>The domain normalised: "" for the default ONNX domain.</summary>
    public string DomainName => Domain is null or "ai.onnx" ? "" : Domain;
    public string? Name { get; set; }
    public string? Overload { get; set; }
    public string? DocString { get; set; }
    public List<MetadataEntry> Metadata { get; } = new();
    internal List<NodeDeviceConfigurationProto> DeviceConfigurations { get; } = new();

    public IReadOnlyList<Value?> Inputs => _inputs;
    public IReadOnlyList<Value?> Outputs => _outputs;
    public IReadOnlyList<Attribute> Attributes => _attributes;

    /// <summary>The graph that holds this node; null while detached.</summary>
    public Graph? Graph { get; internal set; }

    // Intrusive list links. A removed node keeps its Next so an enumeration standing on it can go on.
    internal Node? Prev, Next;
    internal bool Removed;

    public Value? Input(int i) => i < _inputs.Count ? _inputs[i] : null;
    public Value Output(int i = 0) => _outputs[i] ?? throw new InvalidOperationException($"output {i} of {this} is omitted");

    public Attribute? GetAttribute(string name) => _attributes.FirstOrDefault(a => a.Name == name);
    public long GetInt(string name, long fallback) => GetAttribute(name) is { Kind: AttributeKind.Int } a ? a.AsInt : fallback;
    public float GetFloat(string name, float fallback) => GetAttribute(name) is { Kind: AttributeKind.Float } a ? a.AsFloat : fallback;
    public IReadOnlyList<long>? GetInts(string name) => GetAttribute(name) is { Kind: AttributeKind.Ints } a ? a.AsInts : null;
    public string? GetString(string name) => GetAttribute(name) is { Kind: AttributeKind.String } a ? a.AsString : null;

    /// <summary>Adds or replaces (in place, keeping order) the attribute with this name.</summary>
    public void SetAttribute(Attribute attribute)
    {
        foreach (var g in attribute.Graphs) AdoptSubgraph(g);
        int i = _attributes.FindIndex(a => a.Name == attribute.Name);
        if (i >= 0) { DetachSubgraphs(_attributes[i]); _attributes[i] = attribute; }
        else _attributes.Add(attribute);
    }

    /// <summary>
    /// Appends an attribute whose name the caller knows to be new on this node (the loader checks
    /// names with a set): <see cref="SetAttribute"/> searches the list, which is quadratic for a
    /// node with 100,000 attributes.
    /// </summary>
    internal void AppendNewAttribute(Attribute attribute)
    {
        foreach (var g in attribute.Graphs) AdoptSubgraph(g);
        _attributes.Add(attribute);
    }

    public bool RemoveAttribute(string name)
    {
        int i = _attributes.FindIndex(a => a.Name == name);
        if (i < 0) return false;
        DetachSubgraphs(_attributes[i]);
        _attributes.RemoveAt(i);
        return true;
    }

    /// <summary>Subgraphs held by this node's attributes (If branches, Loop/Scan bodies, modifier graphs ...).</summary>
    public IEnumerable<Graph> Subgraphs => _attributes.SelectMany(a => a.Graphs);

    private void AdoptSubgraph(Graph g)
    {
        if (g.ParentNode is not null && !ReferenceEquals(g.ParentNode, this))
            throw new IrMutationException($"graph '{g.Name}' already belongs to node '{g.ParentNode}'");
        g.ParentNode = this;
    }

    /// <summary>
    /// A replaced or removed attribute's subgraphs leave the model: the uses their nodes held on outer
    /// values go with them, so those values do not look used by nodes that no longer exist. (To move
    /// a subgraph to another node, clone it.)
    /// </summary>
    private static void DetachSubgraphs(Attribute a)
    {
        foreach (var g in a.Graphs)
        {
            foreach (var n in g.AllNodes()) n.ClearInputs();
            g.ParentNode = null;
        }
    }

    public void SetInput(int index, Value? value)
    {
        if (index < 0 || index > _inputs.Count) throw new ArgumentOutOfRangeException(nameof(index));
        if (index == _inputs.Count) { AppendInput(value); return; }
        var old = _inputs[index];
        if (ReferenceEquals(old, value)) return;
        old?.UsesList.Remove(new Usage(this, index));
        _inputs[index] = value;
        value?.UsesList.Add(new Usage(this, index));
    }

    public void AppendInput(Value? value)
    {
        _inputs.Add(value);
        value?.UsesList.Add(new Usage(this, _inputs.Count - 1));
    }

    /// <summary>Replaces the whole input list, keeping use-lists right.</summary>
    public void SetInputs(IEnumerable<Value?> values)
    {
        ClearInputs();
        foreach (var v in values) AppendInput(v);
    }

    internal void ClearInputs()
    {
        for (int i = 0; i < _inputs.Count; i++) _inputs[i]?.UsesList.Remove(new Usage(this, i));
        _inputs.Clear();
    }

    /// <summary>Appends a fresh output (for ops with variadic outputs).</summary>
    public Value AddOutput(Value? value = null)
    {
        value ??= new Value();
        if (value.Producer is not null) throw new IrMutationException($"value '{value.Name}' already has a producer");
        value.Producer = this;
        value.ProducerOutputIndex = _outputs.Count;
        _outputs.Add(value);
        if (Graph is not null) Graph.DefineOutputs(this);
        return value;
    }

    /// <summary>
    /// Takes output <paramref name="index"/> away from this node (the slot becomes omitted) so that another
    /// node can produce the same value: the value keeps its name, its uses and its place among graph
    /// outputs. The value is undefined until the new producer joins the graph.
    /// </summary>
    public Value DetachOutput(int index)
    {
        var v = _outputs[index] ?? throw new IrMutationException($"output {index} of {this} is omitted; there is nothing to detach");
        if (v.Graph is { } g) g.Undefine(v);
        v.Graph = null;
        v.Producer = null;
        v.ProducerOutputIndex = -1;
        _outputs[index] = null;
        return v;
    }

    /// <summary>Human-readable identity used in messages: name if any, else op type and first output.</summary>
    public string Describe() =>
        !string.IsNullOrEmpty(Name) ? $"'{Name}' ({QualifiedOp})" : $"{QualifiedOp} -> {(_outputs.FirstOrDefault(o => o is not null)?.Name ?? "?")}";

    public string QualifiedOp => DomainName.Length == 0 ? OpType : $"{DomainName}::{OpType}";

    public override string ToString() => Describe();
}
