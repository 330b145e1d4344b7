using Ternion.IR;
using Ternion.IR.Serialization;
using Xunit.Abstractions;
using static Ternion.Passes.Tests.ReferenceAttention;

namespace Ternion.Passes.Tests;

/// <summary>
/// A FlexAttention that is exactly causal attention becomes ONNX's Attention op (is_causal=1) where
/// the model imports opset 23 or later; ONNX Runtime's result must match the loop reference, and
/// anything that is not exactly that must keep the MatMul/Softmax lowering.
/// </summary>
public class AttentionOpTests(ITestOutputHelper output)
{
    private const DataType F = DataType.Float, Bool = DataType.Bool;

    private static FlexModel Causal(Problem p, bool lessOrEqualForm = false, DataType t = F, int opset = 26, params Attribute[] extra)
    {
        var fm = new FlexModel(t, p.B, p.Hq, p.Hkv, p.L, p.S, p.E, p.Ev, opset);
        var (g, _, _, q, k) = fm.MaskBody("causal");
        g.Output(lessOrEqualForm ? g.Op("LessOrEqual", k, q) : g.Op("GreaterOrEqual", q, k), Bool);
        fm.Attend("attn", [Attribute.FromGraph("mask_mod", g.Graph), .. extra]);
        return fm;
    }

    private static string ResultOf(FlexModel fm, bool attentionOp = true)
    {
        var ctx = new PassContext(new CompileOptions { AttentionOp = attentionOp });
        var m = FlexCompile.Compile(ModelSerializer.FromBytes(ModelSerializer.ToBytes(fm.Model)), ctx);
        string result = ctx.Report.FlexAttention.Single().Result;
        bool hasAttention = m.AllNodes().Any(n => n.OpType == "Attention" && n.DomainName == "");
        Assert.Equal(result == "attention-op", hasAttention);
        return result;
    }

    [Theory]
    [InlineData(2, 4, 5, 5, null, false)]
    [InlineData(1, 4, 3, 7, null, false)]
    [InlineData(1, 4, 7, 3, 0.3, false)]
    [InlineData(2, 4, 6, 6, 0.3, true)]
    [InlineData(2, 2, 5, 5, null, false)] // grouped-query: 4 query heads share 2 K/V heads
    [InlineData(1, 1, 6, 4, 0.3, true)]   // multi-query: one K/V head
    public void ExactlyCausalBecomesTheAttentionOpAndMatchesTheReference(int b, int hkv, int l, int s, double? scale, bool lessOrEqualForm)
    {
        var p = new Problem(b, 4, hkv, l, s, 8, 8);
        Attribute[] extra = [.. scale is double sc ? [Attribute.Float("scale", (float)sc)] : Array.Empty<Attribute>(), .. hkv != 4 ? [Attribute.Int("enable_gqa", 1)] : Array.Empty<Attribute>()];
        var fm = Causal(p, lessOrEqualForm, extra: extra);
        var report = new FlexCheck(output).Run($"causal L={l} S={s} Hkv={hkv}", fm, p,
            (qq, kk, vv) => Compute(p, qq, kk, vv, scale: scale, mask: (_, _, i, j) => i >= j));
        Assert.Equal("attention-op", report.FlexAttention.Single().Result);
    }

    [Fact]
    public void AnythingElseKeepsTheMatMulSoftmaxLowering()
    {
        var p = new Problem(1, 4, 4, 5, 5, 8, 8);
        Assert.Equal("attention-op", ResultOf(Causal(p)));
        Assert.Equal("lowered", ResultOf(Causal(p), attentionOp: false));
        Assert.Equal("lowered", ResultOf(Causal(p, opset: 22)));
        Assert.Equal("lowered", ResultOf(Causal(p, t: DataType.Float16)));
        Assert.Equal("lowered", ResultOf(Causal(p, extra: Attribute.Float("mask_value", -1e9f))));
        Assert.Equal("attention-op", ResultOf(Causal(new Problem(1, 4, 2, 5, 5, 8, 8), extra: Attribute.Int("enable_gqa", 1))));

        // q_idx > kv_idx masks the diagonal too: the first row is fully masked, not causal.
        var strict = new FlexModel(F, p.B, p.Hq, p.Hkv, p.L, p.S, p.E, p.Ev);
        var (g, _, _, q, k) = strict.MaskBody("strict");
        g.Output(g.Op("Greater", q, k), Bool);
        strict.Attend("attn", Attribute.FromGraph("mask_mod", g.Graph));
        Assert.Equal("lowered", ResultOf(strict));

        // Causal with a score modifier.
        var withScore = new FlexModel(F, p.B, p.Hq, p.Hkv, p.L, p.S, p.E, p.Ev);
        var (mg, _, _, mq, mk) = withScore.MaskBody("causal");
        mg.Output(mg.Op("GreaterOrEqual", mq, mk), Bool);
        var (sg, sv, _, _, _, _) = withScore.ScoreBody("double");
        sg.Output(sg.Op("Add", sv, sv), F);
        withScore.Attend("attn", Attribute.FromGraph("mask_mod", mg.Graph), Attribute.FromGraph("score_mod", sg.Graph));
        Assert.Equal("lowered", ResultOf(withScore));
    }
}
