using Ternion.Backends.Kernels.Ops;
using Ternion.IR;
using Ternion.Passes.Rewriting;

namespace Ternion.Passes.Ternary;

/// <summary>
/// MatMul(X, TernaryDecode(P, s)) -> com.ternion::TernaryMatMul(X, P, s): the product reads the
/// packed weight and never forms the dense one. Also Gemm(X, TernaryDecode(P, s)[, C]) with
/// alpha = beta = 1, transA = 0 and B's K axis matching transB, and a following Add of a constant
/// [N] bias (float32) into the op's bias input. A TernaryDecode other nodes still read stays for them.
/// Runs after <see cref="FuseAbsmaxInt8TernaryMatMul"/>, which takes the MatMuls whose activations
/// the model quantizes first.
/// </summary>
public sealed class FuseTernaryMatMul : RewritePass
{
    public override string Name => "FuseTernaryMatMul";

    private static OpPattern Decode() => Pattern.Op(TernaryDecodeOp.Domain, TernaryDecodeOp.OpType, Pattern.Any("P"), Pattern.Any("s")).As("decode");

    public static readonly RewriteRule FromMatMul = new()
    {
        Name = "TernaryMatMul",
        Pattern = Pattern.Op("MatMul", Pattern.Any("X"), Decode()),
        Condition = m => TernaryMatMulOp.WhyNotFusable(m.Node("decode"), ElementTypeInference.Infer(m["X"]), kAxis: 0),
        Replacement = (m, b) => [b.Op(TernaryOps.Domain, TernaryOps.MatMul, [m["X"], m["P"], m["s"]], TernaryMatMulOp.LayoutAttributes(m.Node("decode")), name: m.Root.Name)],
        Imports = [new OpsetId(TernaryOps.Domain, TernaryOps.Version)],
    };

    public static readonly RewriteRule FromGemm = GemmRule("TernaryMatMulFromGemm", Pattern.Op("Gemm", Pattern.Any("X"), Decode()), withC: false);
    public static readonly RewriteRule FromGemmWithBias = GemmRule("TernaryMatMulFromGemmWithBias", Pattern.Op("Gemm", Pattern.Any("X"), Decode(), Pattern.Any("C")), withC: true);

    private static RewriteRule GemmRule(string name, OpPattern pattern, bool withC) => new()
    {
        Name = name,
        Pattern = pattern,
        Condition = m =>
        {
            var gemm = m.Root;
            if (gemm.GetInt("transA", 0) != 0) return "transA is 1";
            if (gemm.GetFloat("alpha", 1f) != 1f) return $"alpha is {gemm.GetFloat("alpha", 1f)}, not 1";
            if (gemm.GetFloat("beta", 1f) != 1f) return $"beta is {gemm.GetFloat("beta", 1f)}, not 1";
            var type = ElementTypeInference.Infer(m["X"]);
            if (TernaryMatMulOp.WhyNotFusable(m.Node("decode"), type, kAxis: gemm.GetInt("transB", 0) == 1 ? 1 : 0) is { } why) return why;
            return withC ? WhyNotBias(m["C"], TernaryDecodeOp.Layout(m.Node("decode")).M, type) : null;
        },
        Replacement = (m, b) => [b.Op(TernaryOps.Domain, TernaryOps.MatMul,
            withC ? [m["X"], m["P"], m["s"], m["C"]] : [m["X"], m["P"], m["s"]],
            TernaryMatMulOp.LayoutAttributes(m.Node("decode")), name: m.Root.Name)],
        Imports = [new OpsetId(TernaryOps.Domain, TernaryOps.Version)],
    };

    /// <summary>Add(fused, B) and Add(B, fused) with B a constant [N]: B becomes the op's bias (added in float32 like the Add).</summary>
    public static IReadOnlyList<RewriteRule> BiasRules { get; } =
        [.. new[] { TernaryOps.MatMul, TernaryOps.MatMulAbsmaxInt8 }.SelectMany(op => new[] { BiasRule(op, first: true), BiasRule(op, first: false) })];

    private static RewriteRule BiasRule(string op, bool first)
    {
        var fused = Pattern.Op(TernaryOps.Domain, op, Pattern.Any("X"), Pattern.Any("P"), Pattern.Any("s")).As("fused");
        return new RewriteRule
        {
            Name = $"{op}Bias{(first ? "" : "Swapped")}",
            Pattern = first ? Pattern.Op("Add", fused, Pattern.Any("B")) : Pattern.Op("Add", Pattern.Any("B"), fused),
            Condition = m =>
            {
                var f = m.Node("fused");
                var y = f.Output();
                if (y.IsGraphOutput || y.Uses.Count != 1) return $"the product '{y.Name}' is also read elsewhere";
                var type = ElementTypeInference.Infer(m["X"]);
                if (type != DataType.Float) return "bias folding keeps float32 only (float16 would round twice differently)";
                return WhyNotBias(m["B"], TernaryMatMulOp.N(f), type);
            },
            Replacement = (m, b) =>
            {
                var f = m.Node("fused");
                return [b.Op(TernaryOps.Domain, op, [m["X"], m["P"], m["s"], m["B"]], f.Attributes, name: f.Name)];
            },
        };
    }

    private static string? WhyNotBias(Value bias, long n, DataType type)
    {
        if (bias.Initializer is not { } t) return $"the bias '{bias.Name}' is not a constant";
        if (t.DataType != type) return $"the bias '{bias.Name}' is {DataTypes.ShortName(t.DataType)}, not {DataTypes.ShortName(type)}";
        if (t.Dims.Length != 1 || t.Dims[0] != n) return $"the bias '{bias.Name}' is [{string.Join(",", t.Dims)}], not [{n}]";
        return null;
    }

    public override IReadOnlyList<RewriteRule> Rules => [FromMatMul, FromGemm, FromGemmWithBias, .. BiasRules];
}
