using Microsoft.Extensions.Logging;
using Ternion.IR;
using Ternion.Passes.FlexAttention;

namespace Ternion.Passes;

/// <summary>
/// Rewrites every ai.onnx.preview::FlexAttention node, in every graph, subgraph and function body.
/// For a target that runs the (tensor-form) op natively the node stays, and an element-wise node is
/// turned into the tensor form; for every other target the node becomes standard ONNX ops following
/// the reference numerics of ../shared/design/flexattention.md: repeat-interleaved K/V heads, Q and K
/// pre-scaled by sqrt(scale) in T, MatMul, cast to the softmax precision, score modifier, mask,
/// Softmax, prob modifier, MatMul with V in the softmax precision, cast back to T.
/// Every node is checked before any is changed, so a refusal leaves the model as it was.
/// </summary>
public sealed class LowerFlexAttention : InPlacePass
{
    protected override int Apply(Model model, PassContext context)
    {
        // Check every node first: a node that cannot be lowered must stop the pass before it changes anything.
        foreach (var n in model.AllNodes().Where(FlexAttentionCall.Is).ToList())
            Analyze(FlexAttentionCall.Read(n, model));

        bool native = context.Options.Capabilities.NativeFlexAttention;
        var done = new HashSet<Node>(ReferenceEqualityComparer.Instance);
        var touchedFunctions = new HashSet<Function>(ReferenceEqualityComparer.Instance);
        int changes = 0;
        bool lowered = false;
        while (model.AllNodes().FirstOrDefault(n => FlexAttentionCall.Is(n) && !done.Contains(n)) is { } node)
        {
            var call = FlexAttentionCall.Read(node, model);
            var mods = Analyze(call);
            var function = OwningFunction(node.Graph!);
            string result, reason;
            if (native)
            {
                done.Add(node);
                if (call.Form == FlexForm.Tensor)
                {
                    result = "kept-native";
                    reason = "the target runs FlexAttention in the tensor form itself";
                }
                else
                {
                    int opset = ConvertToTensorForm(call, mods, function is not null);
                    RequireOpset(model, function, opset, context, call);
                    result = "converted-to-tensor-form";
                    reason = "the target runs FlexAttention in the tensor form only: the element-wise modifiers became tensor graphs";
                    changes++;
                }
            }
            else
            {
                long current = DefaultOpset(model, function);
                int opset;
                string? notCausal = WhyNotPlainCausal(call, current);
                if (context.Options.AttentionOp && notCausal is null)
                {
                    opset = EmitAttentionOp(call, function is not null);
                    result = "attention-op";
                    reason = "exactly causal attention (mask q_idx >= kv_idx, no other modifier, float32): ONNX's Attention op with is_causal=1";
                }
                else
                {
                    opset = LowerNode(call, mods, function is not null, current);
                    result = "lowered";
                    reason = "MatMul/Softmax ops: " + (context.Options.AttentionOp ? notCausal : "--no-attention-op");
                }
                RequireOpset(model, function, opset, context, call);
                if (function is not null) touchedFunctions.Add(function);
                lowered = true;
                changes++;
            }
            context.Report.FlexAttention.Add(new FlexAttentionEntry { Node = call.Label, Form = call.FormName, Result = result, Reason = reason });
            context.Logger.LogDebug("FlexAttention {Node} ({Form} form): {Result}", call.Label, call.FormName, result);
        }
        if (lowered) DropUnusedPreviewImport(model, touchedFunctions);
        return changes;
    }

    /// <summary>The vectorisation plan of each element-wise modifier (checking it); nothing for the tensor form.</summary>
    private static Modifiers Analyze(FlexAttentionCall call)
    {
        if (call.Form == FlexForm.Tensor) return new Modifiers(null, null, null);
        return new Modifiers(
            call.ScoreMod is { } s ? ElementwiseModifier.Analyze(call, s, "score_mod") : null,
            call.MaskMod is { } m ? ElementwiseModifier.Analyze(call, m, "mask_mod") : null,
            call.ProbMod is { } p ? ElementwiseModifier.Analyze(call, p, "prob_mod") : null);
    }

    private sealed record Modifiers(ElementwiseModifier? Score, ElementwiseModifier? Mask, ElementwiseModifier? Prob);

    private static Function? OwningFunction(Graph g)
    {
        for (Graph? cur = g; cur is not null; cur = cur.ParentGraph)
            if (cur.Function is { } f) return f;
        return null;
    }

    // ---------------------------------------------------------------- causal attention as the Attention op

    /// <summary>
    /// True when the node is exactly ONNX's Attention with is_causal=1: element-wise form, no score or
    /// prob modifier, a mask_mod that is q_idx >= kv_idx (upper-left aligned, so no row is fully
    /// masked) with the default -inf mask value, float32 throughout, K/V heads equal to or dividing the
    /// Q heads (grouped-query attention), and
    /// a graph that already imports default-domain opset 23 or later (the opset is never raised for
    /// this: that would change what the graph's other ops mean). ONNX Runtime runs that op with a
    /// fused kernel, faster than the MatMul/Softmax form (bench/flexattention.md).
    /// </summary>
    internal static bool IsPlainCausal(FlexAttentionCall call, long opset) => WhyNotPlainCausal(call, opset) is null;

    /// <summary>Why the node is not exactly causal attention as <see cref="IsPlainCausal"/> defines it; null when it is.</summary>
    internal static string? WhyNotPlainCausal(FlexAttentionCall call, long opset)
    {
        if (call.Form != FlexForm.ElementWise) return "only the element-wise form is matched against the Attention op";
        if (call.ScoreMod is not null) return "it has a score_mod";
        if (call.ProbMod is not null) return "it has a prob_mod";
        if (call.MaskMod is not { } mask) return "it has no mask_mod (attention is not causal)";
        if (call.T != DataType.Float || call.SoftmaxPrecision != DataType.Float) return "it is not float32 throughout";
        if (!float.IsNegativeInfinity(call.MaskValue)) return $"its mask_value is {call.MaskValue}, not -inf";
        // Grouped heads (enable_gqa): Attention shares each K/V head with a contiguous group of query
        // heads, as FlexAttention does; the counts must be known to know they divide.
        if (FlexAttentionCall.StaticDim(call.Q, 1) is not long hq || FlexAttentionCall.StaticDim(call.K, 1) is not long hk || hk == 0)
            return "its head counts are not static";
        if (hq % hk != 0 || (hq != hk && !call.EnableGqa)) return $"its {hk} K/V heads do not group its {hq} query heads";
        const string notCausal = "its mask_mod is not exactly q_idx >= kv_idx";
        if (mask.Nodes.Count != 1 || mask.Initializers.Count != 0 || mask.Inputs.Count != 4) return notCausal;
        var n = mask.Nodes.First();
        if (n.DomainName != "" || n.Inputs.Count != 2 || n.Outputs.Count != 1 || n.Attributes.Count != 0) return notCausal;
        if (!ReferenceEquals(n.Outputs[0], mask.Outputs[0])) return notCausal;
        Value q = mask.Inputs[2], kv = mask.Inputs[3];
        bool causal = (n.OpType == "GreaterOrEqual" && ReferenceEquals(n.Inputs[0], q) && ReferenceEquals(n.Inputs[1], kv))
            || (n.OpType == "LessOrEqual" && ReferenceEquals(n.Inputs[0], kv) && ReferenceEquals(n.Inputs[1], q));
        if (!causal) return notCausal;
        if (opset < 23) return $"exactly causal, but the graph imports opset {opset} and the Attention op needs 23 (never raised for this)";
        return null;
    }

    /// <summary>Replaces the node by Attention(Q, K, V) with is_causal=1 (and the node's scale); returns 23.</summary>
    private static int EmitAttentionOp(FlexAttentionCall call, bool inFunction)
    {
        var node = call.Node;
        var graph = node.Graph!;
        var em = new Emitter(graph, node, call.Label, inFunction);
        var attributes = new List<Attribute> { Attribute.Int("is_causal", 1) };
        if (call.Scale is float s) attributes.Add(Attribute.Float("scale", s));
        var y = node.DetachOutput(0);
        em.Op("Attention", [call.Q, call.K, call.V], "y", attributes, output: y);
        graph.Remove(node);
        return Math.Max(em.RequiredOpset, 23);
    }

    // ---------------------------------------------------------------- full lowering

    /// <summary>Replaces the node by standard ops; returns the default-domain opset they need.</summary>
    private static int LowerNode(FlexAttentionCall call, Modifiers mods, bool inFunction, long opset)
    {
        var node = call.Node;
        var graph = node.Graph!;
        var em = new Emitter(graph, node, call.Label, inFunction);
        var dims = new DimSource(em, [(call.Q, 0), (call.Q, 1), (call.Q, 2), (call.K, 2)]);
        DataType t = call.T, sp = call.SoftmaxPrecision;

        // 1. Scores in T from Q and K each pre-scaled by sqrt(scale), then cast to the softmax precision.
        var sqrtScale = SqrtScale(call, em, dims);
        var qs = em.Op("Mul", [call.Q, sqrtScale], "q_scaled", elemType: t);
        var ks = em.Op("Mul", [call.K, sqrtScale], "k_scaled", elemType: t);
        var heads = HeadIndex(call, em, dims);
        var kRep = heads is null ? ks : em.Op("Gather", [ks, heads], "k_repeated", [Attribute.Int("axis", 1)], elemType: t);
        var kT = em.Op("Transpose", [kRep], "k_transposed", [Attribute.Ints("perm", [0, 1, 3, 2])], elemType: t);
        var scores = em.Op("MatMul", [qs, kT], "scores", elemType: t);
        if (sp != t) scores = em.Cast(scores, sp, "scores_sp");

        // 2. Score modifier and mask, 3. Softmax, 4. prob modifier.
        scores = ApplyScoreAndMask(call, mods, em, scores, dims);
        // The last axis; opsets before 11 take no negative axis, and there axis 3 of the rank-4 scores means the same.
        var probs = em.Op("Softmax", [scores], "probs", [Attribute.Int("axis", opset >= 11 ? -1 : 3)], elemType: sp);
        probs = ApplyProb(call, mods, em, probs, dims);

        // 5. P x V in the softmax precision, then back to T, into the node's own output value.
        var vRep = heads is null ? call.V : em.Op("Gather", [call.V, heads], "v_repeated", [Attribute.Int("axis", 1)], elemType: t);
        var vSp = sp != t ? em.Cast(vRep, sp, "v_sp") : vRep;
        if (sp != t)
        {
            var ySp = em.Op("MatMul", [probs, vSp], "y_sp", elemType: sp);
            var y = node.DetachOutput(0);
            em.Cast(ySp, t, "y", output: y);
        }
        else
        {
            var y = node.DetachOutput(0);
            em.Op("MatMul", [probs, vSp], "y", output: y);
        }
        graph.Remove(node);
        return em.RequiredOpset;
    }

    /// <summary>sqrt(scale) in T. The scale (default 1/sqrt(E)) and its root are float32, as in the reference.</summary>
    private static Value SqrtScale(FlexAttentionCall call, Emitter em, DimSource dims)
    {
        float? scale = call.Scale;
        if (scale is null && FlexAttentionCall.StaticDim(call.Q, 3) is long e) scale = 1f / MathF.Sqrt(e);
        if (scale is float s) return em.ScalarOf(MathF.Sqrt(s), call.T, "sqrt_scale");
        // E known only at run time: the same float32 steps, by the runtime.
        var eF = em.Cast(dims.Scalar(call.Q, 3), DataType.Float, "head_size");
        var rootE = em.Op("Sqrt", [eF], "sqrt_head_size", elemType: DataType.Float);
        var scaleV = em.Op("Div", [em.ScalarFloat(1f, "one"), rootE], "scale", elemType: DataType.Float);
        var root = em.Op("Sqrt", [scaleV], "sqrt_scale_f32", elemType: DataType.Float);
        return call.T == DataType.Float ? root : em.Cast(root, call.T, "sqrt_scale");
    }

    /// <summary>
    /// The K/V head each query head reads (h / (Hq / Hkv)), for a Gather along the head axis that
    /// repeat-interleaves K and V; null when the head counts are known to be equal (or GQA is off).
    /// </summary>
    private static Value? HeadIndex(FlexAttentionCall call, Emitter em, DimSource dims)
    {
        if (call.Form == FlexForm.ElementWise && !call.EnableGqa) return null;
        long? hq = FlexAttentionCall.StaticDim(call.Q, 1), hkv = FlexAttentionCall.StaticDim(call.K, 1);
        if (hq is long a && hkv is long b)
        {
            if (a == b) return null;
            long group = a / b;
            return em.VectorInt64(Enumerable.Range(0, (int)a).Select(h => h / group).ToArray(), "kv_head_of_q_head");
        }
        var hqV = dims.Scalar(call.Q, 1);
        var groupV = em.Op("Div", [hqV, dims.Scalar(call.K, 1)], "gqa_group", elemType: DataType.Int64);
        var range = em.Op("Range", [em.ScalarInt64(0), hqV, em.ScalarInt64(1)], "q_heads", elemType: DataType.Int64);
        return em.Op("Div", [range, groupV], "kv_head_of_q_head", elemType: DataType.Int64);
    }

    private static Value ApplyScoreAndMask(FlexAttentionCall call, Modifiers mods, Emitter em, Value scores, DimSource dims)
    {
        if (call.Form == FlexForm.Tensor)
            return call.ScoreMod is { } g ? InlineTensorModifier(em, g, scores) : scores;
        var sp = call.SoftmaxPrecision;
        var full = scores;
        if (mods.Score is { } sm) scores = Vectorised(em, sm, scores, full, dims, sp);
        if (mods.Mask is { } mm)
        {
            var mask = mm.Emit(em, null, dims.Index);
            if (float.IsNegativeInfinity(call.MaskValue) && call.T is DataType.Float or DataType.Double)
            {
                // s + (0 or -inf) equals Where(mask, s, -inf) wherever s is finite, and runs on ONNX
                // Runtime's multi-threaded Add instead of its single-threaded Where; the bias depends on
                // indices only, so a runtime folds it to a constant. Scores in float32/double are finite
                // unless the inputs are not; float16 products can overflow, so they keep Where.
                var bias = em.Op("Where", [mask, em.ScalarOf(0f, sp, "unmasked"), em.ScalarOf(call.MaskValue, sp, "mask_value")], "mask_bias", elemType: sp);
                scores = em.Op("Add", [scores, bias], "scores_masked", elemType: sp);
            }
            else
            {
                // Where broadcasts a mask that covers less than [B,H,L,S] by itself.
                scores = em.Op("Where", [mask, scores, em.ScalarOf(call.MaskValue, sp, "mask_value")], "scores_masked", elemType: sp);
            }
        }
        return scores;
    }

    private static Value ApplyProb(FlexAttentionCall call, Modifiers mods, Emitter em, Value probs, DimSource dims)
    {
        if (call.Form == FlexForm.Tensor)
            return call.ProbMod is { } g ? InlineTensorModifier(em, g, probs) : probs;
        return mods.Prob is { } pm ? Vectorised(em, pm, probs, probs, dims, call.SoftmaxPrecision) : probs;
    }

    /// <summary>A vectorised score/prob modifier, expanded to the full shape when its result broadcasts to less.</summary>
    private static Value Vectorised(Emitter em, ElementwiseModifier mod, Value input, Value fullShaped, DimSource dims, DataType sp)
    {
        var r = mod.Emit(em, input, dims.Index);
        if (ElementwiseModifier.IsFull(mod.OutputDeps)) return r;
        var shape = em.Op("Shape", [fullShaped], $"{mod.Name}_shape", elemType: DataType.Int64);
        return em.Op("Expand", [r, shape], $"{mod.Name}_full", elemType: sp);
    }

    /// <summary>
    /// Copies a tensor-form modifier body into the target graph with its formal input bound to
    /// <paramref name="input"/>: fresh names, its initializers and nested subgraphs carried along,
    /// references to enclosing graphs kept.
    /// </summary>
    private static Value InlineTensorModifier(Emitter em, Graph body, Value input)
    {
        var map = new Dictionary<Value, Value>(ReferenceEqualityComparer.Instance) { [body.Inputs[0]] = input };
        Value Lookup(Value v)
        {
            if (map.TryGetValue(v, out var m)) return m;
            if (ReferenceEquals(v.Graph, body) && v.Initializer is { } t)
                return map[v] = em.Constant(GraphCloner.CloneTensor(t), v.Name);
            return v;
        }
        foreach (var n in body.Nodes)
        {
            var copy = em.Insert(GraphCloner.CloneNode(n, Lookup, em.Names, em.FreshName(n.Name is { Length: > 0 } nn ? nn : n.OpType), o => o.Type));
            for (int i = 0; i < n.Outputs.Count; i++)
                if (n.Outputs[i] is { } o) map[o] = copy.Outputs[i]!;
        }
        return Lookup(body.Outputs[0]);
    }

    // ---------------------------------------------------------------- native target

    /// <summary>
    /// Keeps the node but in the tensor form: the vectorised score_mod and mask become one tensor
    /// score_mod (mask applied with Where after it), the vectorised prob_mod a tensor prob_mod; the
    /// element-wise-only attributes go.
    /// </summary>
    /// <returns>The default-domain opset the new modifier bodies need.</returns>
    private static int ConvertToTensorForm(FlexAttentionCall call, Modifiers mods, bool inFunction)
    {
        int opset = 1;
        var node = call.Node;
        var names = node.Graph!.Names;
        var sp = call.SoftmaxPrecision;
        var fullShape = new Shape([FlexAttentionCall.DimOf(call.Q, 0), FlexAttentionCall.DimOf(call.Q, 1), FlexAttentionCall.DimOf(call.Q, 2), FlexAttentionCall.DimOf(call.K, 2)]);

        Graph? Build(string name, string inputName, Func<Emitter, Value, DimSource, Value> body)
        {
            var g = new Graph(names) { Name = names.Fresh($"{call.Label}/{name}") };
            var input = g.AddInput(inputName, IrType.Tensor(sp, fullShape));
            var em = new Emitter(g, null, $"{call.Label}/{name}", inFunction);
            var dims = new DimSource(em, [(input, 0), (input, 1), (input, 2), (input, 3)]);
            var result = body(em, input, dims);
            if (ReferenceEquals(result, input) || !ReferenceEquals(result.Graph, g) || result.Producer is null)
                result = em.Op("Identity", [result], $"{inputName}_out", elemType: sp);
            result.Type = IrType.Tensor(sp, fullShape);
            g.Outputs.Add(result);
            opset = Math.Max(opset, em.RequiredOpset);
            return g;
        }

        Graph? scoreGraph = mods.Score is null && mods.Mask is null ? null
            : Build("score_mod", "scores", (em, s, dims) => ApplyScoreAndMask(call, mods, em, s, dims));
        Graph? probGraph = mods.Prob is null ? null
            : Build("prob_mod", "probs", (em, p, dims) => ApplyProb(call, mods, em, p, dims));

        foreach (var old in new[] { call.ScoreMod, call.MaskMod, call.ProbMod })
            if (old is not null) GraphCloner.ReleaseUses(old);
        foreach (var a in new[] { "score_mod", "mask_mod", "prob_mod", "mask_value", "enable_gqa" })
            node.RemoveAttribute(a);
        if (scoreGraph is not null) node.SetAttribute(Attribute.FromGraph("score_mod", scoreGraph));
        if (probGraph is not null) node.SetAttribute(Attribute.FromGraph("prob_mod", probGraph));
        return opset;
    }

    // ---------------------------------------------------------------- opsets

    /// <summary>The default-domain opset a graph is read with: its function's import, else the model's.</summary>
    private static long DefaultOpset(Model model, Function? function) =>
        function?.OpsetImports.FirstOrDefault(o => ModelValidator.Normalize(o.DomainName) == "")?.Version
        ?? model.GetOpsetVersion("") ?? 1;

    private static void RequireOpset(Model model, Function? function, int needed, PassContext context, FlexAttentionCall call)
    {
        var imports = function?.OpsetImports ?? model.OpsetImports;
        int at = imports.FindIndex(o => ModelValidator.Normalize(o.DomainName) == "");
        long current = DefaultOpset(model, function);
        if (current >= needed) return;
        if (needed > context.Options.Capabilities.MaxOpset)
            throw call.Refuse($"the lowering needs default-domain opset {needed}, above the target's {context.Options.Capabilities.MaxOpset}");
        if (at >= 0) imports[at] = imports[at] with { Version = needed };
        else if (function is not null) imports.Add(new OpsetId("", needed));
        else model.RequireOpset("", needed);
        context.Logger.LogInformation("raised the default-domain opset from {From} to {To} for the lowering of {Node}", current, needed, call.Label);
    }

    /// <summary>Once no node uses ai.onnx.preview any more, its opset import goes (from the model and from functions the pass changed).</summary>
    private static void DropUnusedPreviewImport(Model model, HashSet<Function> touched)
    {
        static bool IsPreview(OpsetId o) => o.DomainName == FlexAttentionCall.Domain;
        foreach (var f in touched)
            if (!f.Body.AllNodes().Any(n => n.DomainName == FlexAttentionCall.Domain))
                f.OpsetImports.RemoveAll(IsPreview);
        if (!model.AllNodes().Any(n => n.DomainName == FlexAttentionCall.Domain))
            model.OpsetImports.RemoveAll(IsPreview);
    }
}

/// <summary>
/// The sizes B, H, L, S (as scalars read from shapes at run time when not static) and the broadcast
/// index tensors built from them: b as [B,1,1,1], h as [1,H,1,1], q_idx as [1,1,L,1], kv_idx as [1,1,1,S].
/// </summary>
internal sealed class DimSource
{
    private readonly Emitter _em;
    private readonly (Value Source, int Axis)[] _dims;

    public DimSource(Emitter em, (Value Source, int Axis)[] dims) { _em = em; _dims = dims; }

    private static readonly string[] IndexNames = ["b", "h", "q_idx", "kv_idx"];

    /// <summary>Dimension <paramref name="axis"/> of <paramref name="v"/> as an int64 scalar, read at run time.</summary>
    public Value Scalar(Value v, int axis) => _em.Cached($"dim:{v.Name}:{axis}", () =>
    {
        var shape = _em.Cached($"shape:{v.Name}", () => _em.Op("Shape", [v], $"{v.Name}_shape", elemType: DataType.Int64));
        return _em.Op("Gather", [shape, _em.ScalarInt64(axis)], $"{v.Name}_dim{axis}", [Attribute.Int("axis", 0)], elemType: DataType.Int64);
    });

    public Value Index(int which, DataType type) => _em.Cached($"index:{which}:{type}", () =>
    {
        var (src, axis) = _dims[which];
        var shape = new long[] { 1, 1, 1, 1 };
        if (FlexAttentionCall.StaticDim(src, axis) is long n)
        {
            shape[which] = n;
            var t = type == DataType.Int32
                ? Tensor.FromArray(null, DataType.Int32, shape, Enumerable.Range(0, (int)n).ToArray())
                : Tensor.FromArray(null, DataType.Int64, shape, Enumerable.Range(0, (int)n).Select(i => (long)i).ToArray());
            return _em.Constant(t, IndexNames[which]);
        }
        var range = _em.Cached($"range:{which}", () =>
        {
            var r = _em.Op("Range", [_em.ScalarInt64(0), Scalar(src, axis), _em.ScalarInt64(1)], $"{IndexNames[which]}_range", elemType: DataType.Int64);
            shape[which] = -1;
            return _em.Op("Reshape", [r, _em.VectorInt64(shape, $"{IndexNames[which]}_layout")], IndexNames[which], elemType: DataType.Int64);
        });
        return type == DataType.Int64 ? range : _em.Cast(range, type, $"{IndexNames[which]}_{DataTypes.ShortName(type)}");
    });
}
