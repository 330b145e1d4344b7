using Ternion.IR;

namespace Ternion.Passes.FlexAttention;

/// <summary>
/// Vectorises one element-wise modifier (score_mod, mask_mod or prob_mod) the way vmap does: the
/// scalar formal inputs are bound to broadcast tensors (the score to the whole [B,H,L,S] tensor, the
/// indices to [B,1,1,1], [1,H,1,1], [1,1,L,1] and [1,1,1,S]) and every node is applied to them once.
/// That is only sound for ops that act element by element and broadcast, so <see cref="Analyze"/>
/// follows which values vary (depend on a formal input) and refuses any other op on them. Values that
/// vary with nothing are uniform: computed once, by any op.
/// </summary>
internal sealed class ElementwiseModifier
{
    private readonly FlexAttentionCall _call;
    private readonly Dictionary<Value, Deps> _deps = new(ReferenceEqualityComparer.Instance);
    private readonly List<Node> _live = new();

    private ElementwiseModifier(FlexAttentionCall call, Graph graph, string name)
    {
        _call = call; Graph = graph; Name = name;
        HasScore = name != "mask_mod";
    }

    public Graph Graph { get; }
    public string Name { get; }
    /// <summary>score_mod and prob_mod take the score (probability) first; mask_mod only the indices.</summary>
    public bool HasScore { get; }
    /// <summary>What the result depends on: when less than everything it covers less than [B,H,L,S] and needs expanding.</summary>
    public Deps OutputDeps => DepsOf(Graph.Outputs[0]);

    public static bool IsFull(Deps d) => (d & Deps.Score) != 0 || (d & Deps.AllIndices) == Deps.AllIndices;

    private int FirstIndex => HasScore ? 1 : 0;

    /// <summary>Checks that every op the result depends on can be vectorised; throws a one-line refusal otherwise.</summary>
    public static ElementwiseModifier Analyze(FlexAttentionCall call, Graph graph, string name)
    {
        var m = new ElementwiseModifier(call, graph, name);
        m.Run();
        return m;
    }

    private Deps DepsOf(Value v) => _deps.TryGetValue(v, out var d) ? d : Deps.None;

    private void Run()
    {
        if (HasScore) _deps[Graph.Inputs[0]] = Deps.Score;
        var kinds = new[] { Deps.Batch, Deps.Head, Deps.Query, Deps.Key };
        for (int i = 0; i < 4; i++) _deps[Graph.Inputs[FirstIndex + i]] = kinds[i];

        var live = LiveNodes();
        foreach (var n in Graph.Nodes)
        {
            if (!live.Contains(n)) continue;
            _live.Add(n);
            var reads = Reads(n).ToList();
            var varying = reads.Where(r => DepsOf(r.Value) != Deps.None).ToList();
            if (varying.Count == 0) continue; // uniform: any op, computed once
            var outDeps = Check(n, varying);
            foreach (var o in n.Outputs) if (o is not null) _deps[o] = outDeps;
        }
    }

    /// <summary>What a node reads: its inputs (with their positions) and, at position -1, values of this graph read inside its subgraphs.</summary>
    private IEnumerable<(Value Value, int Index)> Reads(Node n)
    {
        for (int i = 0; i < n.Inputs.Count; i++)
            if (n.Inputs[i] is { } v) yield return (v, i);
        foreach (var sub in n.Subgraphs)
            foreach (var inner in sub.AllNodes())
                foreach (var v in inner.Inputs)
                    if (v is not null && ReferenceEquals(v.Graph, Graph)) yield return (v, -1);
    }

    /// <summary>Nodes the output depends on; the rest is dead and neither checked nor copied.</summary>
    private HashSet<Node> LiveNodes()
    {
        var live = new HashSet<Node>(ReferenceEqualityComparer.Instance);
        var work = new Stack<Value>(Graph.Outputs);
        while (work.Count > 0)
        {
            var v = work.Pop();
            if (v.Producer is not { } p || !ReferenceEquals(p.Graph, Graph) || !live.Add(p)) continue;
            foreach (var (r, _) in Reads(p)) work.Push(r);
        }
        return live;
    }

    private Deps Check(Node n, List<(Value Value, int Index)> varying)
    {
        var first = varying[0].Value;
        TernionException Refuse(string reason) =>
            _call.Refuse($"{Name} applies {n.OpType} to the varying {first.Name}; {reason}");

        if (n.Subgraphs.Any() || n.OpType is "If" or "Loop" or "Scan" or "SequenceMap")
            throw Refuse("control flow cannot be vectorised (each element would take its own branch or trip count)");
        if (n.DomainName.Length != 0)
            throw Refuse($"ops of domain '{n.DomainName}' are not known to act element by element, so they cannot be vectorised");
        if (varying.Any(r => r.Index < 0))
            throw Refuse("only element-wise ops can be vectorised");

        Deps all = varying.Aggregate(Deps.None, (d, r) => d | DepsOf(r.Value));
        switch (n.OpType)
        {
            case "Clip":
                if (varying.Any(r => r.Index > 0))
                    throw _call.Refuse($"{Name} applies Clip with the varying bound {varying.First(r => r.Index > 0).Value.Name}; Clip can be vectorised only with uniform bounds (use Min/Max)");
                return all;
            case "CastLike":
                // The second input only lends its type; the shape is the first input's.
                return DepsOf(n.Inputs[0]!);
            case "Gather":
            {
                if (varying.Any(r => r.Index == 0))
                    throw Refuse("Gather can be vectorised only from a uniform table indexed by a varying index");
                var table = n.Inputs[0]!;
                var rank = RankOf(table);
                if (rank != 1)
                    throw _call.Refuse($"{Name} applies Gather to the table {table.Name} of {(rank is int r ? $"rank {r}" : "unknown rank")} by the varying {first.Name}; only a rank-1 table can be indexed element by element");
                long axis = n.GetInt("axis", 0);
                if (axis is not (0 or -1))
                    throw _call.Refuse($"{Name} applies Gather along axis {axis} of the rank-1 table {table.Name}");
                return all;
            }
        }
        if (ElementWiseOps.Contains(n.OpType)) return all;
        throw Refuse(ReasonFor(n.OpType));
    }

    private static string ReasonFor(string op)
    {
        if (op is "Shape" or "Size")
            return "the shape of the vectorised tensor is not the shape of the scalar it stands for";
        if (op.StartsWith("Reduce", StringComparison.Ordinal) || op is "ArgMax" or "ArgMin" or "Softmax" or "LogSoftmax" or "Hardmax" or "CumSum" or "TopK")
            return "only element-wise ops can be vectorised, and this one combines elements";
        if (op is "MatMul" or "Gemm" or "MatMulInteger" or "Einsum" or "Conv" or "ConvTranspose")
            return "matrix products cannot be vectorised";
        if (op is "Reshape" or "Flatten" or "Squeeze" or "Unsqueeze" or "Transpose" or "Expand" or "Tile" or "Concat"
            or "Split" or "Slice" or "Pad" or "Resize" or "DepthToSpace" or "SpaceToDepth" or "GatherElements" or "GatherND")
            return "reshaping and rearranging cannot be vectorised: the vectorised value is not a scalar";
        if (op.StartsWith("Scatter", StringComparison.Ordinal))
            return "scatters cannot be vectorised";
        if (op.StartsWith("Random", StringComparison.Ordinal) || op is "Bernoulli" or "Multinomial")
            return "random ops cannot be vectorised: each element would need its own draw";
        return "only element-wise ops can be vectorised";
    }

    /// <summary>Default-domain ops that act element by element with numpy broadcasting (Clip, Gather and CastLike are handled apart).</summary>
    private static readonly HashSet<string> ElementWiseOps = new(StringComparer.Ordinal)
    {
        "Identity", "Cast", "Constant",
        "Abs", "Neg", "Sign", "Ceil", "Floor", "Round", "Reciprocal", "Sqrt", "Exp", "Log", "Tanh", "Sigmoid",
        "HardSigmoid", "HardSwish", "Relu", "LeakyRelu", "Elu", "Selu", "Celu", "Softplus", "Softsign", "Gelu", "Mish",
        "ThresholdedRelu", "Shrink", "Erf", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh",
        "Acosh", "Atanh", "Not", "IsNaN", "IsInf", "BitwiseNot",
        "Add", "Sub", "Mul", "Div", "Pow", "Mod", "Min", "Max", "Sum", "Mean", "PRelu",
        "Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "And", "Or", "Xor",
        "BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "Where",
    };

    /// <summary>The rank of a uniform value where it can be told without running anything.</summary>
    private static int? RankOf(Value v)
    {
        if (v.Initializer is { } t) return t.Dims.Length;
        if (v.Type?.Shape is { } s) return s.Rank;
        if (v.Producer is not { } p) return null;
        if (p.OpType == "Constant" && p.DomainName.Length == 0)
        {
            if (p.GetAttribute("value") is { AsTensor: { } ct }) return ct.Dims.Length;
            if (p.GetAttribute("value_ints") is not null || p.GetAttribute("value_floats") is not null || p.GetAttribute("value_strings") is not null) return 1;
            return 0;
        }
        if (p.DomainName.Length == 0 && (p.OpType is "Identity" or "Cast" or "CastLike" || ElementWiseOps.Contains(p.OpType)))
        {
            int? r = 0;
            foreach (var i in p.Inputs)
            {
                if (i is null) continue;
                var ri = RankOf(i);
                if (ri is null) return null;
                r = Math.Max(r.Value, ri.Value);
            }
            return r;
        }
        return null;
    }

    /// <summary>
    /// Emits the vectorised modifier. <paramref name="score"/> is the [B,H,L,S] tensor bound to the first
    /// formal (null for mask_mod); <paramref name="index"/> makes the broadcast index tensor for a dim
    /// (0 batch, 1 head, 2 query, 3 key) in the type the formal declares. Returns the result, which may
    /// broadcast to less than [B,H,L,S] (see <see cref="OutputDeps"/>).
    /// </summary>
    public Value Emit(Emitter em, Value? score, Func<int, DataType, Value> index)
    {
        var map = new Dictionary<Value, Value>(ReferenceEqualityComparer.Instance);
        if (HasScore) map[Graph.Inputs[0]] = score!;
        var formalIndex = new Dictionary<Value, int>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < 4; i++) formalIndex[Graph.Inputs[FirstIndex + i]] = i;

        Value Lookup(Value v)
        {
            if (map.TryGetValue(v, out var m)) return m;
            if (formalIndex.TryGetValue(v, out var dim))
                return map[v] = index(dim, v.ElemType == DataType.Int32 ? DataType.Int32 : DataType.Int64);
            if (ReferenceEquals(v.Graph, Graph) && v.Initializer is { } t)
                return map[v] = em.Constant(GraphCloner.CloneTensor(t), v.Name);
            if (ReferenceEquals(v.Graph, Graph))
                throw new InvalidOperationException($"{_call.Who}: {Name} reads '{v.Name}' before it is defined");
            return v; // captured from an enclosing graph, which the emitted nodes see too
        }

        foreach (var n in _live)
        {
            bool varying = n.Outputs.Any(o => o is not null && DepsOf(o) != Deps.None);
            // A vectorised value keeps its element type but not the scalar shape it was declared with.
            var copy = GraphCloner.CloneNode(n, Lookup, em.Names, em.FreshName(n.Name is { Length: > 0 } nn ? nn : n.OpType),
                o => varying && o.Type is { Kind: TypeKind.Tensor } ty ? IrType.Tensor(ty.ElemType, (Shape?)null) : o.Type);
            em.Insert(copy);
            for (int i = 0; i < n.Outputs.Count; i++)
                if (n.Outputs[i] is { } o) map[o] = copy.Outputs[i]!;
        }
        return Lookup(Graph.Outputs[0]);
    }
}
