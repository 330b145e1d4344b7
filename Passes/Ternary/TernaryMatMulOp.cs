using Ternion.Backends.Kernels.Ops;
using Ternion.IR;
using Ternion.IR.Ternary;

namespace Ternion.Passes.Ternary;

/// <summary>
/// Building and recognising com.ternion::TernaryMatMul and TernaryMatMulAbsmaxInt8 nodes
/// (contract: docs/ort-custom-ops.md; the kernels are in Backends/Kernels/Ops).
/// </summary>
public static class TernaryMatMulOp
{
    public const string Domain = TernaryOps.Domain;

    public static bool Is(Node n) => n.DomainName == Domain && n.OpType is TernaryOps.MatMul or TernaryOps.MatMulAbsmaxInt8;

    /// <summary>
    /// Why a TernaryDecode cannot be the weight of a fused product, or null: its layout must be a
    /// matrix packed along K, from constants, with a scale of the activations' float type.
    /// </summary>
    /// <param name="kAxis">0 for a MatMul B [K, N], 1 for a Gemm B [N, K] with transB = 1.</param>
    public static string? WhyNotFusable(Node decode, DataType activationType, int kAxis)
    {
        var layout = TernaryDecodeOp.Layout(decode);
        if (layout.Rank != 2) return $"the weight is rank {layout.Rank}, not a matrix";
        if (layout.Axis != kAxis) return $"the weight is packed along axis {layout.Axis}, not its K axis {kAxis}";
        if (activationType is not (DataType.Float or DataType.Float16))
            return $"the activations are {(activationType == DataType.Undefined ? "of unknown type" : DataTypes.ShortName(activationType))}; the kernels take float32 and float16";
        if (decode.Input(1) is not { Initializer: { } scale } s) return "the scale is not a constant";
        if (scale.DataType != activationType) return $"the scale '{s.Name}' is {DataTypes.ShortName(scale.DataType)} but the activations are {DataTypes.ShortName(activationType)}";
        if (decode.Input(0) is not { IsInitializer: true } p) return "the packed weight is not a constant";
        return null;
    }

    /// <summary>K, N and block_size of the fused op for a fusable TernaryDecode.</summary>
    public static IEnumerable<Attribute> LayoutAttributes(Node decode)
    {
        var layout = TernaryDecodeOp.Layout(decode);
        return [Attribute.Int(TernaryOps.AttrK, layout.K), Attribute.Int(TernaryOps.AttrN, layout.M), Attribute.Int(TernaryOps.AttrBlockSize, layout.BlockSize)];
    }

    public static long N(Node fused) => fused.GetInt(TernaryOps.AttrN, -1);
}
