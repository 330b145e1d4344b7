using Microsoft.Extensions.Logging;
using Ternion.IR;

namespace Ternion.Passes.Ternary.Sources;

/// <summary>The report's words for where a weight came from.</summary>
public static class WeightSources
{
    public const string Initializer = "initializer";
    public const string DequantizeLinear = "dequantize-linear";
    public const string WeightSubgraph = "weight-subgraph";
    public const string PackedUInt8 = "packed-uint8";
    public const string MatMulNBits = "matmulnbits";
}

/// <summary>
/// A float initializer (float32, float16, bfloat16, double) read directly as a MatMul/Gemm weight.
/// Only scanned here; it is packed while the model is written, tensor by tensor.
/// </summary>
internal static class InitializerSource
{
    public static void Consider(Graph g, Value v, PassContext ctx, TernaryDetections found)
    {
        var t = v.Initializer!;
        if (!DataTypes.IsFloatingPoint(t.DataType)) return;
        int? axis = DetectTernaryWeights.PackedAxis(v, t.Dims.Length);
        if (axis is null) return; // not a MatMul/Gemm weight: not a candidate at all
        string name = v.Name;
        if (Reject(v, t, ctx)) return;
        ScanResult scan;
        using (var bytes = t.Data.Open())
            scan = TernaryScan.Scan(bytes.Span, t.DataType, t.Dims, axis.Value);
        if (!scan.IsTernary)
        {
            DetectTernaryWeights.RejectWith(ctx, name, scan.Reason!);
            return;
        }
        found.Weights.Add(new TernaryWeight
        {
            Name = name, Target = v, Source = v, Graph = g, Shape = t.Dims, Axis = axis.Value, Type = t.DataType,
            PerTensor = scan.PerTensor, ScaleBits = scan.ScaleBits, OriginalBytes = t.ByteLength,
        });
        ctx.Logger.LogDebug("ternary: '{Name}' {Type}[{Shape}] axis {Axis}, {Kind} scale", name, DataTypes.ShortName(t.DataType), string.Join(",", t.Dims), axis, scan.PerTensor ? "per-tensor" : "per-channel");
    }

    private static bool Reject(Value v, Tensor t, PassContext ctx)
    {
        long n = t.ElementCount;
        string? why = n < ctx.Options.MinElements ? $"{n:N0} elements, fewer than --min-elements {ctx.Options.MinElements:N0}"
            // Reachable with --min-elements 0; the per-channel arithmetic divides by the packed dimension.
            : n == 0 ? "has no elements"
            : t.Data is ProtoTensorData { HasSegment: true } ? "is stored in segments, which cannot be read"
            : v.IsGraphInput ? "is also a graph input, so a caller may override it"
            : v.IsGraphOutput ? "is a graph output"
            : t.Dims.Length < 2 ? "is not a matrix"
            : null;
        if (why is null) return false;
        DetectTernaryWeights.RejectWith(ctx, v.Name, why);
        return true;
    }
}
