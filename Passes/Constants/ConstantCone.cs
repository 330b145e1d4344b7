using Ternion.IR;

namespace Ternion.Passes.Constants;

/// <summary>
/// The constant subgraph that computes a value: nodes of one graph whose every input is, in the
/// end, an initializer or a Constant node, so the value is the same on every run and can be computed
/// once at compile time. Exporters leave such cones in front of weights (quantization of master
/// weights, unpacking of packed bytes, casts and transposes of float16 tensors).
/// </summary>
public sealed class ConstantCone
{
    internal ConstantCone(Value root, Graph graph, IReadOnlyList<Node> nodes, IReadOnlyList<Value> leaves)
    {
        Root = root; Graph = graph; Nodes = nodes; Leaves = leaves;
        _members = new HashSet<Node>(nodes);
    }

    private readonly HashSet<Node> _members;

    /// <summary>The value the cone computes.</summary>
    public Value Root { get; }
    /// <summary>The graph holding the cone's nodes (and the root).</summary>
    public Graph Graph { get; }
    /// <summary>The cone's nodes in an order that computes every input before its use.</summary>
    public IReadOnlyList<Node> Nodes { get; }
    /// <summary>Initializers the cone reads (of this graph or an enclosing one), in first-use order.</summary>
    public IReadOnlyList<Value> Leaves { get; }

    public bool Contains(Node n) => _members.Contains(n);

    /// <summary>
    /// The part of the cone that computes <paramref name="wanted"/> (values of this cone): the nodes
    /// they need, in order, and the leaves those read. Evaluating a value leaves out what only others need.
    /// </summary>
    public ConstantCone Restrict(IEnumerable<Value> wanted)
    {
        var need = new HashSet<Node>();
        var stack = new Stack<Node>(wanted.Select(v => v.Producer).OfType<Node>().Where(_members.Contains));
        while (stack.Count > 0)
        {
            var n = stack.Pop();
            if (!need.Add(n)) continue;
            foreach (var v in n.Inputs)
                if (v?.Producer is { } p && _members.Contains(p)) stack.Push(p);
        }
        var nodes = Nodes.Where(need.Contains).ToList();
        var leaves = Leaves.Where(l => nodes.Any(n => n.Inputs.Contains(l))).ToList();
        return new ConstantCone(Root, Graph, nodes, leaves);
    }

    /// <summary>The distinct operator types, in order of first appearance.</summary>
    public IReadOnlyList<string> OpTypes => Nodes.Select(n => n.OpType).Distinct().ToList();

    /// <summary>
    /// Values the cone computes (other than the root) that something outside it also reads: a
    /// scale applied after the MatMul, say. Replacing the root alone leaves them in use.
    /// </summary>
    public IReadOnlyList<Value> Escaping =>
        Nodes.SelectMany(n => n.Outputs).OfType<Value>()
            .Where(v => !ReferenceEquals(v, Root) && (v.IsGraphOutput || v.Uses.Any(u => !ReadInside(u.Node))))
            .ToList();

    /// <summary>True when the node belongs to the cone, or sits in a subgraph of a node that does.</summary>
    private bool ReadInside(Node n) => _members.Contains(n);

    /// <summary>The largest leaf: the tensor a user knows the weight by (a master weight, the packed bytes).</summary>
    public Value? PrimaryLeaf => Leaves.OrderByDescending(l => l.Initializer!.ByteLength).FirstOrDefault();
}

/// <summary>How far the search for a cone may go.</summary>
public sealed record ConeLimits
{
    /// <summary>Most nodes in one cone; exporters' weight subgraphs have tens.</summary>
    public int MaxNodes { get; init; } = 512;
    public static ConeLimits Default { get; } = new();
}

/// <summary>Whether a value is a compile-time constant, as <see cref="ConstantAnalysis"/> sees it.</summary>
public enum Constness
{
    /// <summary>Depends on a graph input (an activation): not a weight at all.</summary>
    Varying,
    /// <summary>Computed from initializers and Constant nodes by operators that can be evaluated.</summary>
    Constant,
    /// <summary>Computed from constants only, but by something that cannot be evaluated at compile time.</summary>
    Refused,
}

/// <summary>
/// Tells, for every value of a model, whether it is a compile-time constant, and finds the cone
/// behind a constant. One walk per value at most (memoised), iterative, so deep graphs and
/// repeated questions stay linear.
/// </summary>
public sealed class ConstantAnalysis
{
    /// <summary>Operators whose value changes from run to run, or that only mean something in training.</summary>
    private static readonly HashSet<string> NotConstant =
    [
        "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli", "Dropout",
    ];

    private readonly Dictionary<Value, (Constness State, string? Why)> _memo = new();
    private readonly ConeLimits _limits;

    public ConstantAnalysis(ConeLimits? limits = null) { _limits = limits ?? ConeLimits.Default; }

    /// <summary>Whether <paramref name="v"/> is constant, and if it is refused, why.</summary>
    public (Constness State, string? Why) Classify(Value v)
    {
        if (_memo.TryGetValue(v, out var known)) return known;
        // Post-order over producers with an explicit stack.
        var stack = new Stack<(Value Value, bool Expanded)>();
        stack.Push((v, false));
        while (stack.Count > 0)
        {
            var (cur, expanded) = stack.Pop();
            if (_memo.ContainsKey(cur)) continue;
            if (Leaf(cur) is { } leaf) { _memo[cur] = leaf; continue; }
            var p = cur.Producer!;
            if (!expanded)
            {
                stack.Push((cur, true));
                foreach (var i in p.Inputs)
                    if (i is not null && !_memo.ContainsKey(i)) stack.Push((i, false));
                continue;
            }
            (Constness, string?) state = (Constness.Constant, null);
            foreach (var i in p.Inputs)
            {
                if (i is null) continue;
                var s = _memo[i];
                if (s.State == Constness.Varying) { state = s; break; }
                if (s.State == Constness.Refused && state.Item1 == Constness.Constant) state = s;
            }
            if (state.Item1 == Constness.Constant && Refuse(p) is { } why) state = (Constness.Refused, why);
            // Every output of the node shares its fate.
            foreach (var o in p.Outputs) if (o is not null) _memo[o] = state;
            _memo[cur] = state;
        }
        return _memo[v];
    }

    private static (Constness, string?)? Leaf(Value v)
    {
        if (v.IsInitializer)
        {
            if (v.IsGraphInput) return (Constness.Varying, null); // a caller may override it
            if (v.Initializer!.Data is ProtoTensorData { HasSegment: true }) return (Constness.Refused, $"'{v.Name}' is stored in segments, which cannot be read");
            return (Constness.Constant, null);
        }
        if (v.IsSparseInitializer) return (Constness.Refused, $"'{v.Name}' is a sparse initializer");
        if (v.Producer is null) return (Constness.Varying, null);
        return null;
    }

    private static string? Refuse(Node n)
    {
        if (n.DomainName.Length != 0) return $"it is computed by {n.Describe()}, an operator outside the ONNX domain";
        if (NotConstant.Contains(n.OpType)) return $"it is computed by {n.Describe()}, whose value is not the same on every run";
        if (n.Subgraphs.Any()) return $"it is computed by {n.Describe()}, which holds a subgraph";
        return null;
    }

    /// <summary>
    /// The cone computing a constant <paramref name="root"/>, or null with <paramref name="whyNot"/>
    /// (refused, or past the limits). Null without a reason for a plain initializer or a varying value.
    /// </summary>
    public ConstantCone? Cone(Value root, out string? whyNot)
    {
        whyNot = null;
        if (root.IsInitializer || root.Producer is not { } top) return null;
        var (state, why) = Classify(root);
        if (state == Constness.Varying) return null;
        if (state == Constness.Refused) { whyNot = why; return null; }
        var graph = top.Graph!;
        var order = new List<Node>();
        var leaves = new List<Value>();
        var visited = new HashSet<Node> { top };
        var leafSet = new HashSet<Value>();
        var stack = new Stack<(Node Node, int Next)>();
        stack.Push((top, 0));
        while (stack.Count > 0)
        {
            var (n, next) = stack.Pop();
            if (next == n.Inputs.Count) { order.Add(n); continue; }
            stack.Push((n, next + 1));
            var v = n.Inputs[next];
            if (v is null) continue;
            if (v.IsInitializer) { if (leafSet.Add(v)) leaves.Add(v); continue; }
            var p = v.Producer!;
            if (!ReferenceEquals(p.Graph, graph)) { whyNot = $"'{v.Name}' comes from {p.Describe()} in an enclosing graph"; return null; }
            if (!visited.Add(p)) continue;
            if (visited.Count > _limits.MaxNodes) { whyNot = $"its constant subgraph has more than {_limits.MaxNodes} nodes"; return null; }
            stack.Push((p, 0));
        }
        return new ConstantCone(root, graph, order, leaves);
    }
}
