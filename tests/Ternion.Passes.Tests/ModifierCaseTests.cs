using Ternion.Backends.Verification;
using Ternion.IR;
using Xunit.Abstractions;
using static Ternion.Passes.Tests.ReferenceAttention;

namespace Ternion.Passes.Tests;

/// <summary>
/// The useful modifiers of the spec, built as element-wise (and tensor-form) FlexAttention models,
/// lowered, run on ONNX Runtime and compared with the loop reference of <see cref="ReferenceAttention"/>.
/// </summary>
public class ModifierCaseTests(ITestOutputHelper output)
{
    private FlexCheck Check => new(output);
    private const DataType F = DataType.Float, I64 = DataType.Int64, I32 = DataType.Int32, Bool = DataType.Bool;

    [Fact]
    public void AlibiBiasPerQueryHeadFromATableInTheModifier()
    {
        var p = new Problem(2, 4, 4, 6, 6, 8, 8);
        var slopes = new[] { 0.5f, 0.25f, 0.125f, 0.0625f };
        var fm = new FlexModel(F, p.B, p.Hq, p.Hkv, p.L, p.S, p.E, p.Ev);
        var (g, s, _, h, q, k) = fm.ScoreBody("alibi");
        var table = g.Init("slopes", F, [4], slopes);
        var rel = g.Cast(g.Op("Sub", k, q), F);
        g.Output(g.Op("Add", s, g.Op("Mul", rel, g.Op("Gather", table, h))), F);
        fm.Attend("attn_alibi", Attribute.FromGraph("score_mod", g.Graph));
        var report = Check.Run("ALiBi", fm, p, (qq, kk, vv) => Compute(p, qq, kk, vv, scoreMod: (x, b, hh, i, j) => x + (j - i) * (double)slopes[hh]));
        Assert.Equal("element-wise", report.FlexAttention.Single().Form);
        Assert.Equal("attn_alibi", report.FlexAttention.Single().Node);
    }

    [Fact]
    public void SlidingWindowMask()
    {
        var p = new Problem(1, 2, 2, 7, 7, 8, 8);
        var fm = new FlexModel(F, p.B, p.Hq, p.Hkv, p.L, p.S, p.E, p.Ev);
        var (g, _, _, q, k) = fm.MaskBody("window");
        var w = g.I64("window", 2);
        g.Output(g.Op("And", g.Op("GreaterOrEqual", q, k), g.Op("LessOrEqual", g.Op("Sub", q, k), w)), Bool);
        fm.Attend("attn_window", Attribute.FromGraph("mask_mod", g.Graph));
        Check.Run("sliding window", fm, p, (qq, kk, vv) => Compute(p, qq, kk, vv, mask: (_, _, i, j) => i >= j && i - j <= 2));
    }

    [Fact]
    public void DocumentMaskThroughATableCapturedFromTheMainGraph()
    {
        var p = new Problem(2, 2, 2, 8, 8, 8, 8);
        var doc = new long[] { 0, 0, 0, 1, 1, 2, 2, 2 };
        var fm = new FlexModel(F, p.B, p.Hq, p.Hkv, p.L, p.S, p.E, p.Ev);
        var docs = fm.Main.Init("DOC", I64, [doc.Length], doc); // an initializer of the enclosing graph
        var (g, _, _, q, k) = fm.MaskBody("document");
        var same = g.Op("Equal", g.Op("Gather", docs, q), g.Op("Gather", docs, k));
        g.Output(g.Op("And", same, g.Op("GreaterOrEqual", q, k)), Bool);
        fm.Attend("attn_docs", Attribute.FromGraph("mask_mod", g.Graph));
        Check.Run("document mask", fm, p, (qq, kk, vv) => Compute(p, qq, kk, vv, mask: (_, _, i, j) => doc[i] == doc[j] && i >= j));
    }

    [Fact]
    public void PrefixLmWithAPerBatchPrefixLengthFedAsAGraphInput()
    {
        var p = new Problem(3, 2, 2, 6, 6, 8, 8);
        var prefix = new long[] { 0, 2, 5 };
        var fm = new FlexModel(F, p.B, p.Hq, p.Hkv, p.L, p.S, p.E, p.Ev);
        var lengths = fm.Main.Input("P", I64, 3);
        var (g, b, _, q, k) = fm.MaskBody("prefix_lm");
        g.Output(g.Op("Or", g.Op("Less", k, g.Op("Gather", lengths, b)), g.Op("GreaterOrEqual", q, k)), Bool);
        fm.Attend("attn_prefix", Attribute.FromGraph("mask_mod", g.Graph));
        Check.Run("prefix LM", fm, p, (qq, kk, vv) => Compute(p, qq, kk, vv, mask: (bb, _, i, j) => j < prefix[bb] || i >= j),
            extraInputs: new() { ["P"] = RunValue.FromArray(I64, [3], prefix) });
    }

    [Fact]
    public void GroupedQueryAttentionWithCausalMaskAndHeadBiasIndexedByTheQueryHead()
    {
        var p = new Problem(2, 8, 2, 5, 5, 8, 4);
        var bias = Enumerable.Range(0, 8).Select(i => 0.3f * i - 1f).ToArray();
        var fm = new FlexModel(F, p.B, p.Hq, p.Hkv, p.L, p.S, p.E, p.Ev);
        var (sg, s, _, h, _, _) = fm.ScoreBody("head_bias");
        sg.Output(sg.Op("Add", s, sg.Op("Gather", sg.Init("HB", F, [8], bias), h)), F);
        var (mg, _, _, q, k) = fm.MaskBody("causal");
        mg.Output(mg.Op("GreaterOrEqual", q, k), Bool);
        fm.Attend("attn_gqa", Attribute.FromGraph("score_mod", sg.Graph), Attribute.FromGraph("mask_mod", mg.Graph), Attribute.Int("enable_gqa", 1));
        Check.Run("GQA + causal + head bias", fm, p, (qq, kk, vv) =>
            Compute(p, qq, kk, vv, scoreMod: (x, _, hh, _, _) => x + bias[hh], mask: (_, _, i, j) => i >= j));
    }

    /// <summary>
    /// L != S with the bottom-right causal mask k &lt;= q + (S - L); the offset is a uniform value read
    /// with Shape from the captured Q and K (allowed: it varies with no formal input). A finite
    /// mask_value keeps masked positions in the softmax, so the attribute is honoured or the numbers differ.
    /// </summary>
    [Fact]
    public void BottomRightCausalWithLDifferentFromSAndAFiniteMaskValue()
    {
        var p = new Problem(1, 2, 2, 3, 7, 8, 8);
        var fm = new FlexModel(F, p.B, p.Hq, p.Hkv, p.L, p.S, p.E, p.Ev);
        var (g, _, _, q, k) = fm.MaskBody("bottom_right");
        var two = g.I64("two", 2);
        var sLen = g.Op("Gather", g.Op("Shape", fm.K), two);
        var lLen = g.Op("Gather", g.Op("Shape", fm.Q), two);
        g.Output(g.Op("LessOrEqual", k, g.Op("Add", q, g.Op("Sub", sLen, lLen))), Bool);
        fm.Attend("attn_br", Attribute.FromGraph("mask_mod", g.Graph), Attribute.Float("mask_value", -2f));
        Check.Run("bottom-right causal, L=3 S=7", fm, p, (qq, kk, vv) =>
            Compute(p, qq, kk, vv, mask: (_, _, i, j) => j <= i + (p.S - p.L), maskValue: -2.0));
    }

    [Fact]
    public void SoftCapAndAProbModifier()
    {
        var p = new Problem(1, 2, 2, 6, 6, 8, 8);
        var fm = new FlexModel(F, p.B, p.Hq, p.Hkv, p.L, p.S, p.E, p.Ev);
        var (g, s, _, _, _, _) = fm.ScoreBody("soft_cap");
        var cap = g.F32("cap", 2f);
        g.Output(g.Op("Mul", g.Op("Tanh", g.Op("Div", s, cap)), cap), F);
        // prob * (1 + 0.5 * [h == 1]): depends on the probability and the head.
        var (pg, pr, _, h, _, _) = fm.ScoreBody("head_weight");
        var isOne = pg.Cast(pg.Op("Equal", h, pg.I64("one", 1)), F);
        pg.Output(pg.Op("Mul", pr, pg.Op("Add", pg.F32("unit", 1f), pg.Op("Mul", isOne, pg.F32("half", 0.5f)))), F);
        fm.Attend("attn_cap", Attribute.FromGraph("score_mod", g.Graph), Attribute.FromGraph("prob_mod", pg.Graph));
        Check.Run("soft-cap + prob_mod", fm, p, (qq, kk, vv) => Compute(p, qq, kk, vv,
            scoreMod: (x, _, _, _, _) => 2 * Math.Tanh(x / 2), probMod: (x, _, hh, _, _) => x * (hh == 1 ? 1.5 : 1.0)), inputRange: 3);
    }

    [Fact]
    public void Int32IndicesInEveryModifier()
    {
        var p = new Problem(2, 2, 2, 5, 5, 8, 8);
        var fm = new FlexModel(F, p.B, p.Hq, p.Hkv, p.L, p.S, p.E, p.Ev);
        var (g, s, b, _, q, k) = fm.ScoreBody("relative", index: I32);
        var rel = g.Op("Mul", g.Cast(g.Op("Add", g.Op("Sub", q, k), b), F), g.F32("quarter", 0.25f));
        g.Output(g.Op("Add", s, rel), F);
        var (mg, _, _, mq, mk) = fm.MaskBody("causal32", index: I32);
        mg.Output(mg.Op("GreaterOrEqual", mq, mk), Bool);
        fm.Attend("attn_i32", Attribute.FromGraph("score_mod", g.Graph), Attribute.FromGraph("mask_mod", mg.Graph));
        Check.Run("int32 indices", fm, p, (qq, kk, vv) => Compute(p, qq, kk, vv,
            scoreMod: (x, bb, _, i, j) => x + (i - j + bb) * 0.25, mask: (_, _, i, j) => i >= j));
    }

    /// <summary>A score modifier that ignores the score covers only [1,1,L,S]; the lowering must expand it (and a prob_mod covering [1,1,1,S]).</summary>
    [Fact]
    public void ModifiersThatBroadcastToLessThanTheScoreShapeAreExpanded()
    {
        var p = new Problem(2, 3, 3, 4, 5, 8, 8);
        var fm = new FlexModel(F, p.B, p.Hq, p.Hkv, p.L, p.S, p.E, p.Ev);
        var (g, _, _, _, q, k) = fm.ScoreBody("position_only");
        g.Output(g.Op("Mul", g.Cast(g.Op("Sub", k, q), F), g.F32("tenth", 0.1f)), F);
        var (pg, _, _, _, _, pk) = fm.ScoreBody("first_key_only");
        pg.Output(pg.Cast(pg.Op("Equal", pk, pg.I64("zero", 0)), F), F);
        fm.Attend("attn_partial", Attribute.FromGraph("score_mod", g.Graph), Attribute.FromGraph("prob_mod", pg.Graph));
        Check.Run("partial modifiers", fm, p, (qq, kk, vv) => Compute(p, qq, kk, vv,
            scoreMod: (_, _, _, i, j) => (j - i) * 0.1, probMod: (_, _, _, _, j) => j == 0 ? 1 : 0));
    }

    [Fact]
    public void SymbolicDimsEverywhereWithGqaAlibiAndCausalMask()
    {
        var p = new Problem(2, 4, 2, 5, 5, 8, 6);
        Dim B = Dim.Symbol("B"), Hq = Dim.Symbol("Hq"), Hkv = Dim.Symbol("Hkv"), L = Dim.Symbol("L"), S = Dim.Symbol("S"), E = Dim.Symbol("E"), Ev = Dim.Symbol("Ev");
        var fm = new FlexModel(F, new Shape([B, Hq, L, E]), new Shape([B, Hkv, S, E]), new Shape([B, Hkv, S, Ev]), opset: 17);
        var slopes = new[] { 0.5f, 0.25f, 0.125f, 0.0625f };
        var (g, s, _, h, q, k) = fm.ScoreBody("alibi");
        g.Output(g.Op("Add", s, g.Op("Mul", g.Cast(g.Op("Sub", k, q), F), g.Op("Gather", g.Init("slopes", F, [4], slopes), h))), F);
        var (mg, _, _, mq, mk) = fm.MaskBody("causal");
        mg.Output(mg.Op("GreaterOrEqual", mq, mk), Bool);
        fm.Attend("attn_symbolic", Attribute.FromGraph("score_mod", g.Graph), Attribute.FromGraph("mask_mod", mg.Graph), Attribute.Int("enable_gqa", 1));
        Check.Run("symbolic dims", fm, p, (qq, kk, vv) => Compute(p, qq, kk, vv,
            scoreMod: (x, _, hh, i, j) => x + (j - i) * (double)slopes[hh], mask: (_, _, i, j) => i >= j));
        Assert.Equal(17, fm.Model.GetOpsetVersion(""));
    }

    [Fact]
    public void DoubleInputsWithAlibiAndSlidingWindow()
    {
        var p = new Problem(1, 2, 2, 6, 6, 4, 4);
        const DataType D = DataType.Double;
        var fm = new FlexModel(D, p.B, p.Hq, p.Hkv, p.L, p.S, p.E, p.Ev);
        var slopes = new[] { 0.5, 0.25 };
        var (g, s, _, h, q, k) = fm.ScoreBody("alibi", sp: D);
        g.Output(g.Op("Add", s, g.Op("Mul", g.Cast(g.Op("Sub", k, q), D), g.Op("Gather", g.Init("slopes", D, [2], slopes), h))), D);
        var (mg, _, _, mq, mk) = fm.MaskBody("window");
        mg.Output(mg.Op("And", mg.Op("GreaterOrEqual", mq, mk), mg.Op("LessOrEqual", mg.Op("Sub", mq, mk), mg.I64("w", 3))), Bool);
        fm.Attend("attn_double", Attribute.FromGraph("score_mod", g.Graph), Attribute.FromGraph("mask_mod", mg.Graph));
        // ORT's extended optimisations fold the two sqrt(scale) factors into one float alpha of a fused
        // MatMul (a 1e-8 change); basic ones keep the double arithmetic that this test pins down.
        var basic = new OrtRunOptions { Threads = 1, Optimization = Microsoft.ML.OnnxRuntime.GraphOptimizationLevel.ORT_ENABLE_BASIC };
        new FlexCheck(output) { Rtol = 1e-10, Atol = 1e-12, Ort = basic }.Run("double ALiBi + window", fm, p, (qq, kk, vv) => Compute(p, qq, kk, vv,
            scoreMod: (x, _, hh, i, j) => x + (j - i) * slopes[hh], mask: (_, _, i, j) => i >= j && i - j <= 3));
    }

    [Fact]
    public void Float16InputsWithSoftCapAndCausalMaskInFloat32Softmax()
    {
        var p = new Problem(1, 4, 2, 6, 6, 16, 8);
        var fm = new FlexModel(DataType.Float16, p.B, p.Hq, p.Hkv, p.L, p.S, p.E, p.Ev);
        var (g, s, _, _, _, _) = fm.ScoreBody("soft_cap"); // scores are float32, the softmax precision
        var cap = g.F32("cap", 3f);
        g.Output(g.Op("Mul", g.Op("Tanh", g.Op("Div", s, cap)), cap), F);
        var (mg, _, _, mq, mk) = fm.MaskBody("causal");
        mg.Output(mg.Op("GreaterOrEqual", mq, mk), Bool);
        fm.Attend("attn_fp16", Attribute.FromGraph("score_mod", g.Graph), Attribute.FromGraph("mask_mod", mg.Graph), Attribute.Int("enable_gqa", 1));
        new FlexCheck(output) { Rtol = 1e-2, Atol = 2e-3 }.Run("float16 soft-cap + causal", fm, p, (qq, kk, vv) => Compute(p, qq, kk, vv,
            scoreMod: (x, _, _, _, _) => 3 * Math.Tanh(x / 3), mask: (_, _, i, j) => i >= j), inputRange: 2);
    }

    /// <summary>
    /// Uniform computations may use any op, even those refused on varying values: a bias made with
    /// ReduceSum, Shape, Reshape, MatMul, If and RandomNormal (times zero) of captured tables.
    /// </summary>
    [Fact]
    public void UniformComputationsMayUseOpsThatCannotBeVectorised()
    {
        var p = new Problem(1, 2, 2, 4, 4, 8, 8);
        // Opset 21: ONNX Runtime implements RandomNormal only up to there.
        var fm = new FlexModel(F, p.B, p.Hq, p.Hkv, p.L, p.S, p.E, p.Ev, opset: 21);
        var tbl = fm.Main.Init("TBL", F, [2, 3], new[] { 1f, 2f, 3f, 4f, 5f, 6f });
        var flag = fm.Main.Init("FLAG", Bool, [], new byte[] { 1 });
        var (g, s, _, _, _, _) = fm.ScoreBody("uniform_bias");
        var sum = g.Op("ReduceSum", [tbl], Attribute.Int("keepdims", 0));                         // 21
        var cols = g.Cast(g.Op("Gather", g.Op("Shape", tbl), g.I64("one", 1)), F);                  // 3
        var flat = g.Op("Reshape", tbl, g.Init("flat", I64, [1], new long[] { 6 }));
        var last = g.Op("Gather", flat, g.I64("five", 5));                                          // 6
        var prod = g.Op("MatMul", g.Init("row", F, [1, 2], new[] { 1f, 2f }), g.Init("col", F, [2, 1], new[] { 3f, 4f })); // [[11]]
        var prodScalar = g.Op("Reshape", prod, g.Init("scalar", I64, [0], Array.Empty<long>()));
        var thenB = fm.Body("then"); thenB.Output(thenB.Op("Identity", thenB.F32("t", 1f)), F);
        var elseB = fm.Body("else"); elseB.Output(elseB.Op("Identity", elseB.F32("e", -1f)), F);
        var branch = g.Op("If", [flag], Attribute.FromGraph("then_branch", thenB.Graph), Attribute.FromGraph("else_branch", elseB.Graph)); // 1
        var noise = g.Op("Mul", g.Op("ReduceSum", [g.Op("RandomNormal", [], Attribute.Ints("shape", [3]))], Attribute.Int("keepdims", 0)), g.F32("zero", 0f));
        var total = g.Op("Sum", sum, cols, last, prodScalar, branch, noise);                        // 42
        g.Output(g.Op("Add", s, g.Op("Mul", total, g.F32("small", 0.01f))), F);
        fm.Attend("attn_uniform", Attribute.FromGraph("score_mod", g.Graph));
        Check.Run("uniform ops", fm, p, (qq, kk, vv) => Compute(p, qq, kk, vv, scoreMod: (x, _, _, _, _) => x + 0.42));
    }

    /// <summary>Tensor form: a captured main-graph bias, an inner initializer and an If whose branch reads an inner value.</summary>
    [Fact]
    public void TensorFormModifierWithCaptureInitializerAndNestedSubgraph()
    {
        var p = new Problem(2, 4, 2, 5, 6, 8, 8);
        var hb = new[] { 0.1f, -0.2f, 0.3f, -0.4f };
        var fm = new FlexModel(F, p.B, p.Hq, p.Hkv, p.L, p.S, p.E, p.Ev);
        var headBias = fm.Main.Init("HB4", F, [1, 4, 1, 1], hb);
        var useCap = fm.Main.Init("USE_CAP", Bool, [], new byte[] { 1 });
        var g = fm.Body("cap_with_bias");
        var scores = g.Input("scores", F, new Shape([Dim.Symbol("B"), Dim.Symbol("H"), Dim.Symbol("L"), Dim.Symbol("S")]));
        var biased = g.Op("Add", scores, headBias);
        var c = g.F32("c", 3f);
        var thenB = fm.Body("capped");
        thenB.Output(thenB.Op("Mul", thenB.Op("Tanh", thenB.Op("Div", biased, c)), c), F, []);
        thenB.Graph.Outputs[0].Type = null;
        var elseB = fm.Body("plain");
        elseB.Graph.Outputs.Add(elseB.Op("Identity", biased));
        var r = g.Op("If", [useCap], Attribute.FromGraph("then_branch", thenB.Graph), Attribute.FromGraph("else_branch", elseB.Graph));
        g.Graph.Outputs.Add(r);
        fm.Attend("attn_tensor", Attribute.FromGraph("score_mod", g.Graph), Attribute.Float("scale", 0.3f));
        var report = Check.Run("tensor form with capture and If", fm, p, (qq, kk, vv) => Compute(p, qq, kk, vv, scale: 0.3,
            scoreMod: (x, _, h, _, _) => 3 * Math.Tanh((x + hb[h]) / 3)));
        Assert.Equal(("tensor", "lowered"), (report.FlexAttention.Single().Form, report.FlexAttention.Single().Result));
    }
}
