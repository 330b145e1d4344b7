using Microsoft.Extensions.Logging;
using Ternion.IR;
using Ternion.Passes.Constants;
using Ternion.Passes.Ternary.Sources;

namespace Ternion.Passes.Ternary;

/// <summary>A weight the detector found ternary, ready for packing.</summary>
public sealed class TernaryWeight
{
    /// <summary>
    /// The value whose uses will read the decoded weight: the initializer, or the value a constant
    /// subgraph computes. Null for a MatMulNBits, whose node is rewritten instead (<see cref="NBitsNode"/>).
    /// </summary>
    public Value? Target { get; init; }
    /// <summary>The stored tensor the weight comes from (the initializer, a master weight, packed bytes, a quantized blob).</summary>
    public required Value Source { get; init; }
    public required Graph Graph { get; init; }
    /// <summary>Logical shape of the weight as its consumers read it.</summary>
    public required long[] Shape { get; init; }
    public required int Axis { get; init; }
    /// <summary>Element type of the decoded weight (and of its scale).</summary>
    public required DataType Type { get; init; }
    public required bool PerTensor { get; init; }
    /// <summary>Raw scale bits (per tensor: one; per channel: M).</summary>
    public ulong[] ScaleBits { get; init; } = [];
    /// <summary>TTF1 bytes computed already (weights evaluated from a subgraph); null: packed from <see cref="Source"/> while the model is written.</summary>
    public TensorData? Packed { get; init; }
    /// <summary>The constant subgraph that computed the weight, retired once the weight is packed.</summary>
    public ConstantCone? Cone { get; init; }
    /// <summary>Values of the subgraph that something else still reads, with their computed constants.</summary>
    public IReadOnlyList<(Value Value, Tensor Constant)> Materialize { get; init; } = [];
    /// <summary>A com.microsoft::MatMulNBits that becomes MatMul(A, TernaryDecode(...)) (+ bias).</summary>
    public Node? NBitsNode { get; init; }
    /// <summary>Report words: initializer, dequantize-linear, weight-subgraph, packed-uint8, matmulnbits.</summary>
    public string SourceKind { get; init; } = WeightSources.Initializer;
    public IReadOnlyList<string> SourceOps { get; init; } = [];
    /// <summary>Bytes the weight occupied as stored.</summary>
    public long OriginalBytes { get; init; }
    /// <summary>The name the report uses (the weight's value name).</summary>
    public required string Name { get; init; }
}

/// <summary>The detector's findings, for <see cref="PackTernaryWeights"/>.</summary>
public sealed class TernaryDetections
{
    public List<TernaryWeight> Weights { get; } = new();
}

/// <summary>
/// Finds ternary weights: the constant value that reaches a weight operand (MatMul B, Gemm B, the
/// weight of com.microsoft::MatMulNBits) whose every element is 0 or plus/minus one magnitude, per
/// tensor or per output channel. The value may be stored as an initializer, or computed in the graph
/// from initializers (a master weight quantized online, uint8 bytes unpacked, float16 cast and
/// transposed, DequantizeLinear), or held by a MatMulNBits; each of those is a source
/// (<see cref="Sources"/>) asked the same question. No false positives: one element off leaves the
/// weight dense, and the report says why.
/// </summary>
public sealed class DetectTernaryWeights : IPass
{
    public string Name => "DetectTernaryWeights";
    public bool InPlace => true;

    public PassResult Run(Model model, PassContext context)
    {
        var found = context.State<TernaryDetections>();
        found.Weights.Clear();
        foreach (var g in model.AllGraphs().ToList())
            foreach (var v in g.Initializers.ToList())
                InitializerSource.Consider(g, v, context, found);
        ConeSource.ConsiderAll(model, context, found);
        MatMulNBitsSource.ConsiderAll(model, context, found);
        context.Logger.LogDebug("DetectTernaryWeights: {Count} ternary weight(s), {Rejected} candidate(s) left dense", found.Weights.Count, context.Report.Rejected.Count);
        return new PassResult(model, false, found.Weights.Count);
    }

    internal static void RejectWith(PassContext ctx, string name, string reason, string source = WeightSources.Initializer)
    {
        lock (ctx.Report) ctx.Report.Rejected.Add(new RejectedEntry { Name = name, Reason = reason, Source = source });
        ctx.Logger.LogDebug("dense: '{Name}' ({Source}): {Reason}", name, source, reason);
    }

    /// <summary>
    /// The reduction axis K the consumers read the weight along: MatMul B [..., K, N] gives rank-2,
    /// Gemm B gives 0 (transB=0) or 1 (transB=1). Null when no consumer is a MatMul/Gemm B operand.
    /// Consumers that disagree (a weight shared oddly) are fine: any axis decodes to the same tensor.
    /// </summary>
    public static int? PackedAxis(Value v, int rank)
    {
        int? axis = null;
        foreach (var u in v.Uses)
        {
            int? a = u.Node switch
            {
                { OpType: "MatMul" } n when n.DomainName.Length == 0 && u.InputIndex == 1 && rank >= 2 => rank - 2,
                { OpType: "Gemm" } n when n.DomainName.Length == 0 && u.InputIndex == 1 && rank == 2 => n.GetInt("transB", 0) != 0 ? 1 : 0,
                _ => null,
            };
            axis ??= a;
        }
        return axis;
    }

    /// <summary>Whether a MatMul or Gemm reads the value as its B operand (the weight position).</summary>
    public static bool IsWeightOperand(Value v) =>
        v.Uses.Any(u => u.InputIndex == 1 && u.Node.DomainName.Length == 0 && u.Node.OpType is "MatMul" or "Gemm");
}
