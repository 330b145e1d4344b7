using Ternion.IR.Onnx;

namespace Ternion.IR;

/// <summary>A use of a value: input <see cref="InputIndex"/> of <see cref="Node"/>.</summary>
public readonly record struct Usage(Node Node, int InputIndex);

/// <summary>
/// A named value of a graph: a graph input, an initializer, or a node output. It has at most one
/// producer and an ordered list of uses (nodes in its own graph and in nested subgraphs).
/// </summary>
public sealed class Value
{
    internal readonly List<Usage> UsesList = new();
    internal readonly List<Graph> OutputOfGraphs = new();
    internal readonly List<Graph> InputOfGraphs = new();

    public Value(string name = "", IrType? type = null)
    {
        Name = name;
        Type = type;
    }

    /// <summary>The name; change it through <see cref="Graph.Rename"/> so scopes and the name authority stay right.</summary>
    public string Name { get; internal set; }
    public IrType? Type { get; set; }
    public string? DocString { get; set; }
    public List<MetadataEntry> Metadata { get; } = new();

    public Node? Producer { get; internal set; }
    public int ProducerOutputIndex { get; internal set; } = -1;

    /// <summary>The graph whose scope defines this value (graph input, initializer or node output); null while detached.</summary>
    public Graph? Graph { get; internal set; }

    /// <summary>The constant behind an initializer; null for every other value.</summary>
    public Tensor? Initializer { get; internal set; }

    /// <summary>A sparse initializer kept as read (passes do not rewrite sparse tensors).</summary>
    internal SparseTensorProto? SparseInitializer { get; set; }
    public bool IsSparseInitializer => SparseInitializer is not null;

    public IReadOnlyList<Usage> Uses => UsesList;
    public bool IsUsed => UsesList.Count > 0 || OutputOfGraphs.Count > 0;
    public bool IsGraphOutput => OutputOfGraphs.Count > 0;
    public bool IsGraphInput => InputOfGraphs.Count > 0;
    public bool IsInitializer => Initializer is not null;

    /// <summary>Graphs that list this value among their outputs.</summary>
    public IReadOnlyList<Graph> OutputOf => OutputOfGraphs;

    /// <summary>Element type and static dims of a tensor-typed value, when known.</summary>
    public DataType ElemType => Initializer?.DataType ?? Type?.ElemType ?? DataType.Undefined;

    /// <summary>
    /// Points every use of this value at <paramref name="replacement"/>. Graph outputs are rewired
    /// only when <paramref name="replaceGraphOutputs"/> is set; otherwise an output makes this refuse,
    /// so a graph's interface never changes silently.
    /// </summary>
    public void ReplaceAllUsesWith(Value replacement, bool replaceGraphOutputs = false)
    {
        if (ReferenceEquals(replacement, this)) return;
        if (IsGraphOutput && !replaceGraphOutputs)
            throw new IrMutationException($"value '{Name}' is an output of graph '{OutputOfGraphs[0].Name}'; replacing it would change the graph's outputs (pass replaceGraphOutputs: true to allow)");
        foreach (var use in UsesList.ToArray())
            use.Node.SetInput(use.InputIndex, replacement);
        if (replaceGraphOutputs)
        {
            foreach (var g in OutputOfGraphs.ToArray())
                for (int i = 0; i < g.Outputs.Count; i++)
                    if (ReferenceEquals(g.Outputs[i], this)) g.Outputs[i] = replacement;
        }
    }

    public override string ToString() => $"%{Name}" + (Type is null ? "" : $": {Type}");
}
