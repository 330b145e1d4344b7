using System.Collections;
using Ternion.IR.Onnx;

namespace Ternion.IR;

/// <summary>
/// A graph: inputs, initializers, nodes in order, outputs. Subgraphs (attribute graphs) see the
/// values of their enclosing graphs; a reference to an outer value is an ordinary use of it.
/// </summary>
public sealed class Graph
{
    private readonly Dictionary<string, Value> _scope = new(StringComparer.Ordinal);
    private NameAuthority? _names;

    public Graph(NameAuthority? names = null)
    {
        _names = names;
        Nodes = new NodeList(this);
        Inputs = new GraphValueList(this, GraphValueList.Role.Input);
        Outputs = new GraphValueList(this, GraphValueList.Role.Output);
        Initializers = new GraphValueList(this, GraphValueList.Role.Initializer);
    }

    public string? Name { get; set; }
    public string? DocString { get; set; }
    public List<MetadataEntry> Metadata { get; } = new();

    public GraphValueList Inputs { get; }
    public GraphValueList Outputs { get; }
    /// <summary>Values backed by a constant (<see cref="Value.Initializer"/>), in file order.</summary>
    public GraphValueList Initializers { get; }
    /// <summary>Values that carry a value_info record in the file (type annotations of intermediates).</summary>
    public List<Value> ValueInfos { get; } = new();
    /// <summary>Sparse initializers, in file order.</summary>
    public List<Value> SparseInitializers { get; } = new();
    internal List<TensorAnnotation> QuantizationAnnotations { get; } = new();
    /// <summary>Where a file declares a graph output with other type information than the value's own, the declaration as read.</summary>
    internal Dictionary<Value, Value> OutputDeclarations { get; } = new(ReferenceEqualityComparer.Instance);

    public NodeList Nodes { get; }

    /// <summary>The node whose attribute holds this graph; null for a main graph or function body.</summary>
    public Node? ParentNode { get; internal set; }
    /// <summary>The function whose body this is, if any.</summary>
    public Function? Function { get; internal set; }
    /// <summary>The enclosing graph (outer scope) of a subgraph.</summary>
    public Graph? ParentGraph => ParentNode?.Graph;

    /// <summary>Names of the whole model, for fresh names that collide with nothing.</summary>
    public NameAuthority Names
    {
        get => _names ??= ParentGraph?.Names ?? new NameAuthority();
        internal set => _names = value;
    }

    public int Depth => ParentGraph is null ? 0 : ParentGraph.Depth + 1;

    /// <summary>The value this name means here: defined in this graph or an enclosing one.</summary>
    public Value? Lookup(string name)
    {
        for (var g = this; g is not null; g = g.ParentGraph)
            if (g._scope.TryGetValue(name, out var v)) return v;
        return null;
    }

    /// <summary>A value defined in this graph itself (not an outer scope).</summary>
    public Value? LookupLocal(string name) => _scope.TryGetValue(name, out var v) ? v : null;

    /// <summary>All nodes of this graph and, depth first, of every nested subgraph.</summary>
    public IEnumerable<Node> AllNodes()
    {
        foreach (var n in Nodes)
        {
            yield return n;
            foreach (var g in n.Subgraphs)
                foreach (var inner in g.AllNodes()) yield return inner;
        }
    }

    /// <summary>This graph and all nested subgraphs.</summary>
    public IEnumerable<Graph> AllGraphs()
    {
        yield return this;
        foreach (var n in Nodes)
            foreach (var g in n.Subgraphs)
                foreach (var inner in g.AllGraphs()) yield return inner;
    }

    // ---- construction and mutation ----

    /// <summary>Adds a graph input named <paramref name="name"/> (made unique if taken).</summary>
    public Value AddInput(string name, IrType? type)
    {
        var v = new Value(Names.Claim(name), type);
        Inputs.Add(v);
        return v;
    }

    /// <summary>Adds an initializer; its value gets the tensor's name (made unique if taken).</summary>
    public Value AddInitializer(Tensor tensor, string? name = null)
    {
        var v = new Value(Names.Claim(name ?? tensor.Name ?? "const"));
        tensor.Name = v.Name;
        v.Initializer = tensor;
        Initializers.Add(v);
        return v;
    }

    /// <summary>Detaches an initializer that nothing uses any more.</summary>
    public void RemoveInitializer(Value v)
    {
        if (v.Uses.Count > 0 || v.IsGraphOutput)
            throw new IrMutationException($"initializer '{v.Name}' is still used by {Describe(v)}");
        Initializers.Remove(v);
        v.Initializer = null;
        ValueInfos.Remove(v);
        Names.Release(v.Name);
    }

    public Node Append(Node node) { Nodes.InsertCore(node, null, after: true); return node; }
    public Node InsertBefore(Node anchor, Node node) { Nodes.InsertCore(node, anchor, after: false); return node; }
    public Node InsertAfter(Node anchor, Node node) { Nodes.InsertCore(node, anchor, after: true); return node; }

    /// <summary>
    /// Removes a node. Refuses when one of its outputs is still used or is a graph output, unless
    /// <paramref name="force"/> (for callers that remove a whole connected group). Every use the node
    /// held, its own inputs and the outer values its subgraphs read, is dropped from the use-lists.
    /// </summary>
    public void Remove(Node node, bool force = false)
    {
        if (!ReferenceEquals(node.Graph, this)) throw new IrMutationException($"node {node} is not in graph '{Name}'");
        if (!force)
            foreach (var o in node.Outputs)
                if (o is not null && o.IsUsed)
                    throw new IrMutationException($"cannot remove node {node}: its output '{o.Name}' is still used by {Describe(o)}");
        node.ClearInputs();
        // Nodes inside its subgraphs may read outer values; those uses die with the node.
        foreach (var sub in node.Subgraphs)
            foreach (var inner in sub.AllNodes()) inner.ClearInputs();
        foreach (var o in node.Outputs)
            if (o is not null && ReferenceEquals(o.Graph, this))
            {
                Undefine(o);
                o.Graph = null;
                ValueInfos.Remove(o);
                Names.Release(o.Name);
            }
        Nodes.Unlink(node);
        node.Graph = null;
    }

    /// <summary>Removes a group of nodes whose outputs are used only inside the group.</summary>
    public void RemoveAll(IEnumerable<Node> nodes)
    {
        var set = nodes.ToHashSet();
        foreach (var n in set)
            foreach (var o in n.Outputs)
            {
                if (o is null) continue;
                if (o.IsGraphOutput) throw new IrMutationException($"cannot remove node {n}: its output '{o.Name}' is a graph output");
                foreach (var u in o.Uses)
                    if (!set.Contains(u.Node) && !IsInside(u.Node, set))
                        throw new IrMutationException($"cannot remove node {n}: its output '{o.Name}' is still used by {u.Node}");
            }
        foreach (var n in set) { n.ClearInputs(); }
        foreach (var n in set) Remove(n, force: true);
    }

    private static bool IsInside(Node n, HashSet<Node> set)
    {
        for (var g = n.Graph; g is not null; g = g.ParentGraph)
            if (g.ParentNode is { } p && set.Contains(p)) return true;
        return false;
    }

    /// <summary>Renames a value, keeping scopes and the name authority consistent. Refuses a taken name.</summary>
    public void Rename(Value v, string newName)
    {
        if (v.Name == newName) return;
        if (!Names.TryClaimExact(newName))
            throw new IrMutationException($"cannot rename '{v.Name}' to '{newName}': the name is already used");
        var g = v.Graph;
        if (g is not null && g._scope.TryGetValue(v.Name, out var cur) && ReferenceEquals(cur, v))
        {
            g._scope.Remove(v.Name);
            g._scope[newName] = v;
        }
        v.Name = newName;
        if (v.Initializer is { } t) t.Name = newName;
    }

    internal void Define(Value v)
    {
        if (string.IsNullOrEmpty(v.Name)) v.Name = Names.Fresh(v.Producer is { } p ? p.OpType.ToLowerInvariant() : "value");
        if (_scope.TryGetValue(v.Name, out var existing) && !ReferenceEquals(existing, v))
            throw new IrMutationException($"value name '{v.Name}' is defined twice in graph '{Name}'");
        _scope[v.Name] = v;
        v.Graph = this;
        Names.Note(v.Name);
    }

    internal void DefineSparse(Value v) => Define(v);

    internal void Undefine(Value v)
    {
        if (_scope.TryGetValue(v.Name, out var cur) && ReferenceEquals(cur, v)) _scope.Remove(v.Name);
    }

    internal void DefineOutputs(Node node)
    {
        foreach (var o in node.Outputs) if (o is not null) Define(o);
    }

    internal static string Describe(Value v)
    {
        if (v.IsGraphOutput) return $"graph output of '{v.OutputOfGraphs[0].Name}'";
        var u = v.Uses.FirstOrDefault();
        return u.Node is null ? "nothing" : $"node {u.Node}" + (v.Uses.Count > 1 ? $" and {v.Uses.Count - 1} more" : "");
    }

    public override string ToString() => $"graph '{Name}' ({Nodes.Count} nodes)";
}

/// <summary>
/// The nodes of a graph in order. Enumeration tolerates insertion and removal while it runs:
/// nodes inserted after the current one are visited, removed ones are skipped.
/// </summary>
public sealed class NodeList : IEnumerable<Node>
{
    private readonly Graph _graph;
    private Node? _head, _tail;
    public NodeList(Graph graph) { _graph = graph; }
    public int Count { get; private set; }
    public Node? First => _head;
    public Node? Last => _tail;

    internal void InsertCore(Node node, Node? anchor, bool after)
    {
        if (node.Graph is not null) throw new IrMutationException($"node {node} already belongs to graph '{node.Graph.Name}'");
        if (anchor is not null && (!ReferenceEquals(anchor.Graph, _graph) || anchor.Removed))
            throw new IrMutationException($"anchor node {anchor} is not in graph '{_graph.Name}'");
        node.Graph = _graph;
        node.Removed = false;
        _graph.DefineOutputs(node);
        if (anchor is null)
        {
            if (after) { node.Prev = _tail; node.Next = null; if (_tail is null) _head = node; else _tail.Next = node; _tail = node; }
            else { node.Next = _head; node.Prev = null; if (_head is null) _tail = node; else _head.Prev = node; _head = node; }
        }
        else if (after)
        {
            node.Prev = anchor; node.Next = anchor.Next;
            if (anchor.Next is null) _tail = node; else anchor.Next.Prev = node;
            anchor.Next = node;
        }
        else
        {
            node.Next = anchor; node.Prev = anchor.Prev;
            if (anchor.Prev is null) _head = node; else anchor.Prev.Next = node;
            anchor.Prev = node;
        }
        Count++;
    }

    /// <summary>Puts the same nodes in a new order (values, uses and scopes are untouched).</summary>
    public void Reorder(IReadOnlyList<Node> newOrder)
    {
        if (newOrder.Count != Count || newOrder.Any(n => !ReferenceEquals(n.Graph, _graph) || n.Removed)
            || newOrder.Distinct(ReferenceEqualityComparer.Instance).Count() != Count)
            throw new IrMutationException($"a new order for graph '{_graph.Name}' must hold exactly its {Count} nodes");
        _head = _tail = null;
        foreach (var node in newOrder)
        {
            node.Prev = _tail; node.Next = null;
            if (_tail is null) _head = node; else _tail.Next = node;
            _tail = node;
        }
    }

    internal void Unlink(Node node)
    {
        if (node.Prev is null) _head = node.Next; else node.Prev.Next = node.Next;
        if (node.Next is null) _tail = node.Prev; else node.Next.Prev = node.Prev;
        node.Removed = true;
        node.Prev = null; // Next is kept for enumerations standing on this node.
        Count--;
    }

    public IEnumerator<Node> GetEnumerator()
    {
        for (var n = _head; n is not null; n = n.Next)
            if (!n.Removed && ReferenceEquals(n.Graph, _graph)) yield return n;
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>An ordered list of a graph's inputs, outputs or initializers that keeps each value's membership right.</summary>
public sealed class GraphValueList : IList<Value>, IReadOnlyList<Value>
{
    public enum Role { Input, Output, Initializer }
    private readonly List<Value> _items = new();
    private readonly Graph _graph;
    private readonly Role _role;
    internal GraphValueList(Graph graph, Role role) { _graph = graph; _role = role; }

    public Value this[int index]
    {
        get => _items[index];
        set { Leave(_items[index]); Join(value); _items[index] = value; }
    }

    public int Count => _items.Count;
    public bool IsReadOnly => false;
    public void Add(Value item) { Join(item); _items.Add(item); }
    public void Insert(int index, Value item) { Join(item); _items.Insert(index, item); }
    public bool Remove(Value item)
    {
        int i = _items.IndexOf(item);
        if (i < 0) return false;
        RemoveAt(i);
        return true;
    }
    public void RemoveAt(int index) { var v = _items[index]; _items.RemoveAt(index); Leave(v); }
    public void Clear() { foreach (var v in _items.ToArray()) Remove(v); }
    public bool Contains(Value item) => _items.Contains(item);
    public int IndexOf(Value item) => _items.IndexOf(item);
    public void CopyTo(Value[] array, int arrayIndex) => _items.CopyTo(array, arrayIndex);
    public IEnumerator<Value> GetEnumerator() => _items.GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => _items.GetEnumerator();

    private void Join(Value v)
    {
        switch (_role)
        {
            case Role.Output: v.OutputOfGraphs.Add(_graph); break;
            case Role.Input: v.InputOfGraphs.Add(_graph); _graph.Define(v); break;
            case Role.Initializer: _graph.Define(v); break;
        }
    }

    private void Leave(Value v)
    {
        switch (_role)
        {
            case Role.Output: v.OutputOfGraphs.Remove(_graph); break;
            case Role.Input:
                v.InputOfGraphs.Remove(_graph);
                if (!_graph.Initializers.Contains(v)) { _graph.Undefine(v); v.Graph = null; }
                break;
            case Role.Initializer:
                if (!_graph.Inputs.Contains(v)) { _graph.Undefine(v); v.Graph = null; }
                break;
        }
    }
}
