using Microsoft.Extensions.Logging;
using Ternion.IR;
using Ternion.IR.Ternary;
using Ternion.Passes.Constants;

namespace Ternion.Passes.Ternary.Sources;

/// <summary>
/// A weight computed in the graph from stored tensors: a master weight quantized online (Abs,
/// ReduceMean, Round, Clip ...), bytes unpacked with BitShift/BitwiseAnd, a float16 or bfloat16
/// tensor cast and transposed, DequantizeLinear of int8/uint8/int4/int2 with any scales and zero
/// points. The cone is evaluated once with the constant evaluator, exactly as the runtime would
/// compute it; when the value is ternary it is packed at once (into the spill file, so memory stays
/// at about one cone), and the cone is retired by <see cref="PackTernaryWeights"/>. Cones are
/// evaluated in parallel, results are recorded in graph order.
/// </summary>
internal static class ConeSource
{
    private sealed record Candidate(Value Root, ConstantCone Cone, string Kind);

    private sealed class Outcome
    {
        public TernaryWeight? Weight;
        public string? Rejected;
        public string? Log;
    }

    public static void ConsiderAll(Model model, PassContext ctx, TernaryDetections found)
    {
        var analysis = new ConstantAnalysis();
        var candidates = new List<Candidate>();
        var seen = new HashSet<Value>();
        foreach (var g in model.AllGraphs().ToList())
            foreach (var n in g.Nodes)
            {
                if (n.DomainName.Length != 0 || n.OpType is not ("MatMul" or "Gemm")) continue;
                if (n.Input(1) is not { } root || root.IsInitializer || root.Producer is not { } p || !seen.Add(root)) continue;
                if (TernaryDecodeOp.Is(p)) continue; // packed already
                var (state, why) = analysis.Classify(root);
                if (state == Constness.Varying) continue; // an activation, not a weight
                if (state == Constness.Refused) { DetectTernaryWeights.RejectWith(ctx, root.Name, why!, WeightSources.WeightSubgraph); continue; }
                var cone = analysis.Cone(root, out why);
                if (cone is null) { DetectTernaryWeights.RejectWith(ctx, root.Name, why ?? "not a constant", WeightSources.WeightSubgraph); continue; }
                string kind = Kind(cone);
                if (root.IsGraphOutput) { DetectTernaryWeights.RejectWith(ctx, root.Name, "is a graph output", kind); continue; }
                if (root.Type?.Shape?.TryGetStatic() is { } dims && Tensor.ElementCountOf(dims) is var count && count >= 0 && count < ctx.Options.MinElements)
                {
                    DetectTernaryWeights.RejectWith(ctx, root.Name, $"{count:N0} elements, fewer than --min-elements {ctx.Options.MinElements:N0}", kind);
                    continue;
                }
                candidates.Add(new Candidate(root, cone, kind));
            }
        if (candidates.Count == 0) return;

        int threads = ctx.Options.Threads > 0 ? ctx.Options.Threads : Environment.ProcessorCount;
        int workers = Math.Max(1, Math.Min(threads, candidates.Count));
        int packThreads = Math.Max(1, threads / workers);
        var outcomes = new Outcome[candidates.Count];
        Parallel.For(0, candidates.Count, new ParallelOptions { MaxDegreeOfParallelism = workers, CancellationToken = ctx.Cancellation },
            i => outcomes[i] = Evaluate(candidates[i], model, ctx, packThreads));
        for (int i = 0; i < candidates.Count; i++)
        {
            var (c, o) = (candidates[i], outcomes[i]);
            if (o.Weight is { } w)
            {
                found.Weights.Add(w);
                ctx.Logger.LogDebug("ternary: '{Name}' from {Kind} ({Ops}) of '{Leaf}': {Log}", w.Name, c.Kind, string.Join(", ", w.SourceOps), w.Source.Name, o.Log);
            }
            // Named by the stored tensor a user knows (the master weight, the packed bytes) when there is one.
            else if (c.Cone.PrimaryLeaf is { } leaf) DetectTernaryWeights.RejectWith(ctx, leaf.Name, $"'{c.Root.Name}' computed from it: {o.Rejected}", c.Kind);
            else DetectTernaryWeights.RejectWith(ctx, c.Root.Name, o.Rejected!, c.Kind);
        }
    }

    /// <summary>
    /// An exporter's exact layout transcoded without evaluating the subgraph (same bytes as the
    /// evaluation would give), or null to evaluate it.
    /// </summary>
    private static Outcome? Direct(Candidate c, PassContext ctx)
    {
        if (HfPackedUInt8.TryMatch(c.Cone, c.Root) is not { } m) return null;
        var p = m.Bytes;
        long k = p.Dims[1], n = p.Dims[0] * 4;
        if (DetectTernaryWeights.PackedAxis(c.Root, 2) != 0 || n * k < ctx.Options.MinElements || n * k > int.MaxValue) return null;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var rows = TernaryLayout.Matrix(n, k, ctx.Options.BlockSize);
        if (HfPackedUInt8.Validate(m) is not { } scan) return null;
        // The bytes are written while the model is written (on another core, ahead of the writer).
        var packed = new DeferredTensorData(rows.PackedBytes, dst => HfPackedUInt8.Encode(m, rows, dst));
        return new Outcome
        {
            Weight = new TernaryWeight
            {
                Name = c.Root.Name, Target = c.Root, Source = m.Packed, Graph = c.Cone.Graph, Shape = [k, n], Axis = 0, Type = DataType.Float,
                PerTensor = scan.PerTensor, ScaleBits = scan.ScaleBits, Packed = packed, Cone = c.Cone,
                SourceKind = c.Kind, SourceOps = c.Cone.OpTypes, OriginalBytes = p.ByteLength,
            },
            Log = $"float32[{k},{n}] axis 0, {(scan.PerTensor ? "per-tensor" : "per-channel")} scale; HF BitNet layout checked in {clock.Elapsed.TotalMilliseconds:F0} ms, transcoded while written",
        };
    }

    /// <summary>Which of the report's forms a cone is.</summary>
    internal static string Kind(ConstantCone cone)
    {
        var ops = cone.Nodes.Select(n => n.OpType).ToHashSet();
        static bool Layout(string op) => op is "Identity" or "Reshape" or "Transpose" or "Squeeze" or "Unsqueeze" or "Flatten" or "Cast" or "CastLike" or "Constant";
        if (ops.Contains("DequantizeLinear") && ops.All(o => o == "DequantizeLinear" || Layout(o))) return WeightSources.DequantizeLinear;
        bool unpacks = ops.Overlaps(["BitShift", "BitwiseAnd", "Mod"]);
        if (unpacks && cone.PrimaryLeaf?.Initializer?.DataType == DataType.UInt8) return WeightSources.PackedUInt8;
        return WeightSources.WeightSubgraph;
    }

    private static Outcome Evaluate(Candidate c, Model model, PassContext ctx, int packThreads)
    {
        var cone = c.Cone;
        var root = c.Root;
        var leaf = cone.PrimaryLeaf ?? root;
        if (ctx.Options.DirectTranscode && Direct(c, ctx) is { } direct) return direct;
        var escaping = cone.Escaping;
        // A final 2-D Transpose moves bytes only: TTF1 packs [N, K] along K exactly as it packs the
        // transposed [K, N] along K, so the value before it is packed and the transpose never runs.
        var value = SkippableTranspose(root, cone) ?? root;
        var wanted = new List<Value> { value };
        wanted.AddRange(escaping.Where(e => e != value));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        IReadOnlyList<ConstTensor>? values;
        try { values = ctx.ConstantEvaluator.Evaluate(cone.Restrict(wanted), wanted, model, out var whyNot) ?? throw new ConstantEvaluationException(whyNot ?? "no evaluator computes it"); }
        catch (ConstantEvaluationException e) { return new Outcome { Rejected = $"its {Describe(cone)} cannot be computed at compile time ({e.Message})" }; }
        try
        {
            var w = values[0];
            if (!DataTypes.IsFloatingPoint(w.Type)) return new Outcome { Rejected = $"computes {DataTypes.ShortName(w.Type)} values, not floats" };
            bool transposed = value != root;
            if (transposed && w.Dims.Length != 2) return new Outcome { Rejected = $"is {ConstTensorText(w)} before its Transpose, not a matrix" };
            long[] rootDims = transposed ? [w.Dims[1], w.Dims[0]] : w.Dims;
            int? axis = DetectTernaryWeights.PackedAxis(root, rootDims.Length);
            if (axis is null) return new Outcome { Rejected = $"is {ConstTensorText(w)}, which its MatMul/Gemm does not read as a matrix" };
            // Along the same K: the other axis of the untransposed value.
            int valueAxis = transposed ? 1 - axis.Value : axis.Value;
            long n = w.ElementCount;
            if (n < ctx.Options.MinElements) return new Outcome { Rejected = $"{n:N0} elements, fewer than --min-elements {ctx.Options.MinElements:N0}" };
            if (n == 0) return new Outcome { Rejected = "has no elements" };
            double evaluated = clock.Elapsed.TotalMilliseconds;
            var scan = TernaryScan.Scan(w.Bytes, w.Type, w.Dims, valueAxis);
            if (!scan.IsTernary) return new Outcome { Rejected = $"{Describe(cone)}: {scan.Reason}" };
            var layout = new TernaryLayout(w.Dims, valueAxis, ctx.Options.BlockSize);
            if (layout.PackedBytes > int.MaxValue) return new Outcome { Rejected = $"{layout.PackedBytes:N0} packed bytes are more than one buffer holds" };
            TensorData packed;
            using (var buffer = new NativeBuffer((int)layout.PackedBytes))
            {
                TernaryData.Pack(w.Bytes, w.Type, layout, scan.ScaleBits, root.Name, packThreads, buffer.GetSpan());
                packed = ctx.Spill.Add(buffer.GetSpan());
            }
            // A small value something else still reads (a scale applied after the MatMul) becomes a
            // constant, so the master weight is no longer needed; a large one keeps its nodes.
            long small = Math.Max(1024, n / 16);
            var materialize = new List<(Value, Tensor)>();
            for (int i = 1; i < wanted.Count; i++)
            {
                var e = wanted[i];
                var t = values[i];
                if (e.IsGraphOutput || t.ElementCount > small || t.Type == DataType.String) continue;
                materialize.Add((e, new Tensor(null, t.Type, t.Dims, new MemoryTensorData(t.Bytes.ToArray()))));
            }
            return new Outcome
            {
                Weight = new TernaryWeight
                {
                    Name = root.Name, Target = root, Source = leaf, Graph = cone.Graph, Shape = rootDims, Axis = axis.Value, Type = w.Type,
                    PerTensor = scan.PerTensor, ScaleBits = scan.ScaleBits, Packed = packed, Cone = cone, Materialize = materialize,
                    SourceKind = c.Kind, SourceOps = cone.OpTypes, OriginalBytes = leaf.Initializer?.ByteLength ?? 0,
                },
                Log = $"{DataTypes.ShortName(w.Type)}[{string.Join(",", rootDims)}] axis {axis}, {(scan.PerTensor ? "per-tensor" : "per-channel")} scale, {materialize.Count} value(s) folded to constants; evaluated in {evaluated:F0} ms, scanned and packed in {clock.Elapsed.TotalMilliseconds - evaluated:F0} ms",
            };
        }
        catch (ConstantEvaluationException e)
        {
            return new Outcome { Rejected = $"its {Describe(cone)} cannot be computed at compile time ({e.Message})" };
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }

    /// <summary>The input of a root produced by a 2-D Transpose (perm [1, 0]) of a value the cone computes, else null.</summary>
    private static Value? SkippableTranspose(Value root, ConstantCone cone)
    {
        if (root.Producer is not { OpType: "Transpose" } t || t.DomainName.Length != 0 || t.Input(0) is not { } inner) return null;
        if (inner.Producer is not { } p || !cone.Contains(p)) return null;
        return t.GetInts("perm") is [1, 0] ? inner : null;
    }

    private static string Describe(ConstantCone cone) => $"{cone.Nodes.Count}-node subgraph ({string.Join(", ", cone.OpTypes)})";

    private static string ConstTensorText(ConstTensor t) => $"{DataTypes.ShortName(t.Type)}[{string.Join(",", t.Dims)}]";
}
