using Microsoft.Extensions.Logging;
using Ternion.IR;

namespace Ternion.Passes.Ternary;

/// <summary>A weight the detector found ternary, ready for packing.</summary>
public sealed class TernaryWeight
{
    /// <summary>The value whose uses will read the decoded weight (the initializer, or DequantizeLinear's output).</summary>
    public required Value Target { get; init; }
    /// <summary>The float initializer, or the int8 initializer behind a DequantizeLinear.</summary>
    public required Value Source { get; init; }
    /// <summary>The DequantizeLinear node in the int8 case; null for a float weight.</summary>
    public Node? Dequantize { get; init; }
    public required Graph Graph { get; init; }
    public required long[] Shape { get; init; }
    public required int Axis { get; init; }
    /// <summary>Element type of the decoded weight (and of its scale).</summary>
    public required DataType Type { get; init; }
    public required bool PerTensor { get; init; }
    /// <summary>Raw scale bits (per tensor: one; per channel: M), for a float weight.</summary>
    public ulong[] ScaleBits { get; init; } = [];
    /// <summary>The existing scale initializer of a DequantizeLinear, reused as is.</summary>
    public Value? ScaleValue { get; init; }
}

/// <summary>The detector's findings, for <see cref="PackTernaryWeights"/>.</summary>
public sealed class TernaryDetections
{
    public List<TernaryWeight> Weights { get; } = new();
}

/// <summary>
/// Finds ternary weights: float initializers (float32, float16, bfloat16, double) whose every element
/// is 0 or plus/minus one magnitude (per tensor or per output channel), and int8 initializers in
/// {-1, 0, 1} feeding DequantizeLinear with a zero zero-point. Only weights read as the B operand of
/// MatMul or Gemm count; the consumer picks the packed axis K. No false positives: one element off
/// leaves the tensor dense, and -v logs why.
/// </summary>
public sealed class DetectTernaryWeights : IPass
{
    public string Name => "DetectTernaryWeights";
    public bool InPlace => true;

    public PassResult Run(Model model, PassContext context)
    {
        var found = context.State<TernaryDetections>();
        found.Weights.Clear();
        foreach (var g in model.AllGraphs())
            foreach (var v in g.Initializers.ToList())
                Consider(g, v, context, found);
        context.Logger.LogDebug("DetectTernaryWeights: {Count} ternary weight(s), {Rejected} candidate(s) left dense", found.Weights.Count, context.Report.Rejected.Count);
        return new PassResult(model, false, found.Weights.Count);
    }

    private static void Consider(Graph g, Value v, PassContext ctx, TernaryDetections found)
    {
        var t = v.Initializer!;
        // The int8 route: X -> DequantizeLinear -> MatMul/Gemm B.
        if (t.DataType == DataType.Int8)
        {
            if (v.Uses.Count == 1 && v.Uses[0] is { InputIndex: 0 } u && u.Node is { OpType: "DequantizeLinear" } dq && dq.DomainName.Length == 0)
                ConsiderDequantized(g, v, dq, ctx, found);
            return;
        }
        if (!DataTypes.IsFloatingPoint(t.DataType)) return;
        int? axis = PackedAxis(v, t.Dims.Length);
        if (axis is null) return; // not a MatMul/Gemm weight: not a candidate at all
        string name = v.Name;
        if (Reject(v, t, ctx)) return;
        ScanResult scan;
        using (var bytes = t.Data.Open())
            scan = TernaryScan.Scan(bytes.Span, t.DataType, t.Dims, axis.Value);
        if (!scan.IsTernary)
        {
            RejectWith(ctx, name, scan.Reason!);
            return;
        }
        found.Weights.Add(new TernaryWeight
        {
            Target = v, Source = v, Graph = g, Shape = t.Dims, Axis = axis.Value, Type = t.DataType,
            PerTensor = scan.PerTensor, ScaleBits = scan.ScaleBits,
        });
        ctx.Logger.LogDebug("ternary: '{Name}' {Type}[{Shape}] axis {Axis}, {Kind} scale", name, DataTypes.ShortName(t.DataType), string.Join(",", t.Dims), axis, scan.PerTensor ? "per-tensor" : "per-channel");
    }

    private static bool Reject(Value v, Tensor t, PassContext ctx)
    {
        long n = t.ElementCount;
        if (n < ctx.Options.MinElements) { RejectWith(ctx, v.Name, $"{n:N0} elements, fewer than --min-elements {ctx.Options.MinElements:N0}"); return true; }
        // Reachable with --min-elements 0; the per-channel arithmetic divides by the packed dimension.
        if (n == 0) { RejectWith(ctx, v.Name, "has no elements"); return true; }
        if (t.Data is ProtoTensorData { HasSegment: true }) { RejectWith(ctx, v.Name, "is stored in segments, which cannot be read"); return true; }
        if (v.IsGraphInput) { RejectWith(ctx, v.Name, "is also a graph input, so a caller may override it"); return true; }
        if (v.IsGraphOutput) { RejectWith(ctx, v.Name, "is a graph output"); return true; }
        if (t.Dims.Length < 2) { RejectWith(ctx, v.Name, "is not a matrix"); return true; }
        return false;
    }

    private static void RejectWith(PassContext ctx, string name, string reason)
    {
        ctx.Report.Rejected.Add(new RejectedEntry { Name = name, Reason = reason });
        ctx.Logger.LogDebug("dense: '{Name}': {Reason}", name, reason);
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

    private static void ConsiderDequantized(Graph g, Value x, Node dq, PassContext ctx, TernaryDetections found)
    {
        var t = x.Initializer!;
        if (!ReferenceEquals(dq.Graph, g)) return;
        // A DequantizeLinear may come with its output omitted, or with no output at all.
        var outV = dq.Outputs.Count > 0 ? dq.Outputs[0] : null;
        if (outV is null || dq.Inputs.Count < 2 || dq.Input(1) is not { Initializer: { } scaleT } scaleV) return;
        int? axis = PackedAxis(outV, t.Dims.Length);
        if (axis is null) return;
        if (Reject(x, t, ctx)) return;
        if (dq.GetInt("block_size", 0) != 0) { RejectWith(ctx, x.Name, "DequantizeLinear uses blocked quantization"); return; }
        if (dq.Input(2) is { } zp)
        {
            if (zp.Initializer is not { } zpT) { RejectWith(ctx, x.Name, "zero point is not a constant"); return; }
            using var zb = zpT.Data.Open();
            if (zb.Span.IndexOfAnyExcept((byte)0) >= 0) { RejectWith(ctx, x.Name, "zero point is not 0"); return; }
        }
        if (!DataTypes.IsFloatingPoint(scaleT.DataType) || scaleT.DataType == DataType.Double)
        { RejectWith(ctx, x.Name, $"scale is {DataTypes.ShortName(scaleT.DataType)}"); return; }
        long channels = t.ElementCount / t.Dims[axis.Value];
        bool perTensor = scaleT.ElementCount == 1 && scaleT.Dims.Length == 0;
        // A per-axis scale must run along the channels (for a [K, N] weight packed on K: axis 1 = N).
        bool perChannel = scaleT.Dims.Length == 1 && scaleT.Dims[0] == channels && t.Dims.Length == 2
            && NormalizeAxis(dq.GetInt("axis", 1), 2) == 1 - axis.Value;
        if (!perTensor && !perChannel) { RejectWith(ctx, x.Name, "scale is neither one value nor one per output channel"); return; }
        using (var b = t.Data.Open())
        {
            var span = b.Span;
            int bad = span.IndexOfAnyExcept((byte)0, (byte)1, (byte)0xFF);
            if (bad >= 0) { RejectWith(ctx, x.Name, $"int8 element {bad} is {(sbyte)span[bad]}, not -1, 0 or 1"); return; }
        }
        found.Weights.Add(new TernaryWeight
        {
            Target = outV, Source = x, Dequantize = dq, Graph = g, Shape = t.Dims, Axis = axis.Value, Type = scaleT.DataType,
            PerTensor = perTensor, ScaleValue = scaleV,
        });
    }

    private static long NormalizeAxis(long a, int rank) => a < 0 ? a + rank : a;
}
