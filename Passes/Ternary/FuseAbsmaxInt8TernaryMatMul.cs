using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Ternion.Backends.Kernels.Ops;
using Ternion.IR;

namespace Ternion.Passes.Ternary;

/// <summary>
/// BitNet b1.58 quantizes the activations of every ternary projection per token to int8 by absmax
/// right before the MatMul, in float32:
/// <code>
/// s = 127 / clamp(max(|x|, axis=-1, keepdims), min=1e-5)
/// y = MatMul(clip(round(x * s), -128, 127) / s, W)
/// </code>
/// This pass finds that subgraph in front of MatMul(., TernaryDecode(P, w)) and replaces both by
/// com.ternion::TernaryMatMulAbsmaxInt8(x, P, w), whose kernel computes the same q and s bit for
/// bit and multiplies the integers exactly. Only the exact form matches: Abs, ReduceMax over the
/// last axis with keepdims, Clip(min) or Max with a constant eps, Div(constant, .), Mul by x, Round
/// (half to even), Clip to constants inside [-128, 127], Div by the same s; optionally inside
/// Cast(float32) ... Cast(float16) around a float16 x. Anything else keeps its float MatMul (and is
/// fused by <see cref="FuseTernaryMatMul"/>); -v logs why each candidate did not match.
/// </summary>
public sealed class FuseAbsmaxInt8TernaryMatMul : InPlacePass
{
    public override string Name => "FuseAbsmaxInt8TernaryMatMul";

    protected override int Apply(Model model, PassContext context)
    {
        int fused = 0;
        foreach (var g in model.AllGraphs().ToList())
            foreach (var mm in g.Nodes.ToList())
            {
                if (!ReferenceEquals(mm.Graph, g) || mm.OpType != "MatMul" || mm.DomainName.Length != 0 || mm.Inputs.Count != 2) continue;
                if (mm.Input(1)?.Producer is not { } decode || !TernaryDecodeOp.Is(decode) || !ReferenceEquals(decode.Graph, g)) continue;
                var m = Match(mm.Input(0)!, g, out string? why);
                if (m is null)
                {
                    context.Logger.LogDebug("{Node}: activations not quantized by absmax int8 here: {Why}", mm.Describe(), why);
                    continue;
                }
                if (TernaryMatMulOp.WhyNotFusable(decode, m.ActivationType, kAxis: 0) is { } no)
                {
                    context.Logger.LogDebug("{Node}: not fused: {Why}", mm.Describe(), no);
                    continue;
                }
                Replace(g, mm, decode, m);
                fused++;
            }
        if (fused > 0) model.RequireOpset(TernaryOps.Domain, TernaryOps.Version);
        return fused;
    }

    private sealed record Quantization(Value X, DataType ActivationType, float QuantMax, float Eps, long ClipMin, long ClipMax, List<Node> Chain);

    /// <summary>Walks up from the MatMul's A input; null (and the reason) at the first step that is not the model's quantization.</summary>
    private static Quantization? Match(Value a, Graph g, out string? why)
    {
        var chain = new List<Node>();
        Node? Producer(Value? v, string op)
        {
            if (v?.Producer is { } n && ReferenceEquals(n.Graph, g) && n.OpType == op && n.DomainName.Length == 0 && n.Outputs.Count == 1)
            {
                chain.Add(n);
                return n;
            }
            return null;
        }
        why = null;
        // Optional Cast(float16) at the end, for float16 models that quantize in float32.
        var castOut = Producer(a, "Cast");
        if (castOut is not null && castOut.GetInt("to", 0) != (long)DataType.Float16) { why = $"{castOut.Describe()} casts to something other than float16"; return null; }
        var deq = Producer(castOut?.Input(0) ?? a, "Div");
        if (deq is null) { why = "the A input is not Div(q, s)"; return null; }
        var clip = Producer(deq.Input(0), "Clip");
        if (clip is null || clip.Inputs.Count != 3) { why = $"{deq.Describe()} does not divide Clip(., lo, hi)"; return null; }
        if (Constant(clip.Input(1)) is not { } lo || Constant(clip.Input(2)) is not { } hi) { why = $"{clip.Describe()}: the clip bounds are not constants"; return null; }
        if (lo != Math.Floor(lo) || hi != Math.Floor(hi) || lo < -128 || hi > 127 || lo > hi) { why = $"{clip.Describe()}: [{lo}, {hi}] is not an integer range inside [-128, 127]"; return null; }
        var round = Producer(clip.Input(0), "Round");
        if (round is null) { why = $"{clip.Describe()} does not clip Round(.)"; return null; }
        var mul = Producer(round.Input(0), "Mul");
        if (mul is null) { why = $"{round.Describe()} does not round Mul(x, s)"; return null; }
        var s = deq.Input(1)!;
        Value? x = ReferenceEquals(mul.Input(1), s) ? mul.Input(0) : ReferenceEquals(mul.Input(0), s) ? mul.Input(1) : null;
        if (x is null) { why = $"{mul.Describe()} does not multiply by the same s the Div divides by"; return null; }
        var scale = Producer(s, "Div");
        if (scale is null || Constant(scale.Input(0)) is not { } quantMax || quantMax <= 0) { why = $"s '{s.Name}' is not Div(constant, max)"; return null; }
        var clamp = Producer(scale.Input(1), "Clip") ?? Producer(scale.Input(1), "Max");
        if (clamp is null || clamp.Inputs.Count < 2) { why = $"{scale.Describe()} does not divide by Clip(max, eps) or Max(max, eps)"; return null; }
        if (clamp.OpType == "Clip" && clamp.Inputs.Count == 3 && clamp.Input(2) is not null) { why = $"{clamp.Describe()} also has an upper bound"; return null; }
        if (clamp.OpType == "Max" && clamp.Inputs.Count != 2) { why = $"{clamp.Describe()} takes {clamp.Inputs.Count} inputs"; return null; }
        if (Constant(clamp.Input(1)) is not { } eps || eps <= 0) { why = $"{clamp.Describe()}: eps is not a positive constant"; return null; }
        var reduce = Producer(clamp.Input(0), "ReduceMax");
        if (reduce is null || reduce.GetInt("keepdims", 1) != 1) { why = $"{clamp.Describe()} does not clamp ReduceMax(|x|, keepdims=1)"; return null; }
        var abs = Producer(reduce.Input(0), "Abs");
        if (abs is null || !ReferenceEquals(abs.Input(0), x)) { why = $"{reduce.Describe()} does not reduce Abs of the x that is multiplied"; return null; }
        if (!LastAxisOnly(reduce, x)) { why = $"{reduce.Describe()} does not reduce over the last axis only"; return null; }
        // float16 activations: x is Cast(float16 -> float32) of them, and the end casts back.
        var xType = ElementTypeInference.Infer(x);
        Value input = x;
        if (castOut is not null)
        {
            var castIn = Producer(x, "Cast");
            if (castIn is null || castIn.GetInt("to", 0) != (long)DataType.Float || ElementTypeInference.Infer(castIn.Input(0)) != DataType.Float16) { why = "the float16 result is not quantized from Cast(float16 -> float32) activations"; return null; }
            input = castIn.Input(0)!;
            xType = DataType.Float16;
        }
        else if (xType != DataType.Float) { why = $"x is {DataTypes.ShortName(xType)}; the quantization must run in float32"; return null; }
        return new Quantization(input, xType, (float)quantMax, (float)eps, (long)lo, (long)hi, chain);
    }

    private static bool LastAxisOnly(Node reduce, Value x)
    {
        IReadOnlyList<long>? axes = reduce.GetInts("axes");
        if (reduce.Inputs.Count > 1 && reduce.Input(1) is { } axesInput)
        {
            if (axesInput.Initializer is not { DataType: DataType.Int64 } t) return false;
            axes = t.ToArray<long>();
        }
        if (axes is null || axes.Count != 1) return false;
        if (axes[0] == -1) return true;
        return x.Type?.Shape is { } shape && axes[0] == shape.Rank - 1;
    }

    /// <summary>A scalar (or one-element) float or integer constant: an initializer or a Constant node.</summary>
    private static double? Constant(Value? v)
    {
        if (v is null) return null;
        var t = v.Initializer;
        if (t is null && v.Producer is { OpType: "Constant", DomainName: "" } c)
        {
            if (c.GetAttribute("value")?.AsTensor is { } ct) t = ct;
            else if (c.GetAttribute("value_float") is { } f) return f.AsFloat;
            else if (c.GetAttribute("value_int") is { } i) return i.AsInt;
        }
        if (t is null || t.ElementCount != 1) return null;
        using var data = t.Data.Open();
        var b = data.Span;
        return t.DataType switch
        {
            DataType.Float => MemoryMarshal.Read<float>(b),
            DataType.Double => MemoryMarshal.Read<double>(b),
            DataType.Float16 => (double)MemoryMarshal.Read<Half>(b),
            DataType.Int64 => MemoryMarshal.Read<long>(b),
            DataType.Int32 => MemoryMarshal.Read<int>(b),
            DataType.Int8 => (sbyte)b[0],
            _ => null,
        };
    }

    private static void Replace(Graph g, Node mm, Node decode, Quantization q)
    {
        var attrs = TernaryMatMulOp.LayoutAttributes(decode).Concat([
            Attribute.Float(TernaryOps.AttrQuantMax, q.QuantMax), Attribute.Float(TernaryOps.AttrQuantEps, q.Eps),
            Attribute.Int(TernaryOps.AttrClipMin, q.ClipMin), Attribute.Int(TernaryOps.AttrClipMax, q.ClipMax)]).ToArray();
        var fused = new Node(TernaryOps.Domain, TernaryOps.MatMulAbsmaxInt8, [q.X, decode.Input(0), decode.Input(1)], 1, attrs, name: mm.Name);
        g.InsertBefore(mm, fused);
        var y = mm.Output();
        string name = y.Name;
        bool hadValueInfo = g.ValueInfos.Contains(y);
        fused.Output().Type = y.Type;
        y.ReplaceAllUsesWith(fused.Output(), replaceGraphOutputs: true);
        g.Remove(mm);
        g.Rename(fused.Output(), name);
        if (hadValueInfo) g.ValueInfos.Add(fused.Output());
        // The quantization nodes and the decode go once nothing else reads them (BitNet's q, k and v share one).
        var candidates = q.Chain.Append(decode).ToList();
        for (bool removed = true; removed;)
        {
            removed = false;
            foreach (var n in candidates)
                if (ReferenceEquals(n.Graph, g) && n.Outputs.All(o => o is null || !o.IsUsed && !o.IsGraphOutput)) { g.Remove(n); removed = true; }
        }
    }
}
