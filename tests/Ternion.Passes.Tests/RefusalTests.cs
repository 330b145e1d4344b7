using Ternion.IR;
using Ternion.IR.Serialization;

namespace Ternion.Passes.Tests;

/// <summary>
/// What cannot be vectorised, or is malformed, is refused with one line naming the node, the op and
/// the reason, and the model is left as it was (the pass checks every node before it changes one).
/// </summary>
public class RefusalTests
{
    private const DataType F = DataType.Float, I64 = DataType.Int64, Bool = DataType.Bool;

    private static FlexModel NewModel() => new(F, 1, 2, 2, 4, 4, 8, 8);

    private static TernionException Refused(FlexModel fm, bool native = false)
    {
        var before = ModelSerializer.ToBytes(fm.Model);
        var e = Assert.Throws<TernionException>(() => FlexCompile.Compile(fm.Model, FlexCompile.Context(native)));
        Assert.DoesNotContain('\n', e.Message);
        Assert.Equal(before, ModelSerializer.ToBytes(fm.Model));
        return e;
    }

    /// <summary>A score_mod whose result is built by <paramref name="body"/> from the varying score.</summary>
    private static TernionException RefusedScoreMod(Func<GraphBuilder, Value, Value> body, bool native = false)
    {
        var fm = NewModel();
        var (g, s, _, _, _, _) = fm.ScoreBody("bad");
        g.Output(body(g, s), F);
        // A second, fine node first: the refusal of the later one must still leave it untouched.
        fm.Main.Graph.Append(new Node("ai.onnx.preview", "FlexAttention", [fm.Q, fm.K, fm.V], [new Value("Y0")], null, "attn_ok"));
        fm.Main.Graph.Outputs.Add(fm.Main.Graph.Nodes.Last!.Output());
        fm.Attend("attn0", Attribute.FromGraph("score_mod", g.Graph));
        return Refused(fm, native);
    }

    [Theory]
    [InlineData("ReduceSum", "combines elements")]
    [InlineData("Shape", "shape of the vectorised tensor")]
    [InlineData("Softmax", "combines elements")]
    [InlineData("Flatten", "reshaping")]
    [InlineData("RandomNormalLike", "random ops")]
    public void UnaryOpsThatAreNotElementWiseAreRefusedOnTheScore(string op, string reason)
    {
        var e = RefusedScoreMod((g, s) => op == "Shape" ? g.Cast(g.Op("ReduceMax", g.Op("Shape", s)), F) : g.Op(op, s));
        Assert.StartsWith($"FlexAttention 'attn0': score_mod applies {op} to the varying score; ", e.Message);
        Assert.Contains(reason, e.Message);
    }

    [Fact]
    public void ReshapeOfTheScoreIsRefused()
    {
        var e = RefusedScoreMod((g, s) => g.Op("Reshape", s, g.Init("one", I64, [1], new long[] { 1 })));
        Assert.Equal("FlexAttention 'attn0': score_mod applies Reshape to the varying score; reshaping and rearranging cannot be vectorised: the vectorised value is not a scalar", e.Message);
    }

    [Fact]
    public void MatMulOfAVaryingValueIsRefused()
    {
        var e = RefusedScoreMod((g, s) => g.Op("MatMul", g.Op("Mul", s, g.F32("two", 2f)), g.Init("w", F, [1, 1], new[] { 1f })));
        Assert.StartsWith("FlexAttention 'attn0': score_mod applies MatMul to the varying ", e.Message);
        Assert.Contains("matrix products cannot be vectorised", e.Message);
    }

    [Fact]
    public void ControlFlowReadingTheScoreInsideItsBranchIsRefused()
    {
        var e = RefusedScoreMod((g, s) =>
        {
            var cond = g.Init("flag", Bool, [], new byte[] { 1 });
            var t = new GraphBuilder(g.Graph.Names, "then"); t.Graph.Outputs.Add(t.Op("Neg", s));
            var f = new GraphBuilder(g.Graph.Names, "else"); f.Graph.Outputs.Add(f.Op("Identity", s));
            return g.Op("If", [cond], Attribute.FromGraph("then_branch", t.Graph), Attribute.FromGraph("else_branch", f.Graph));
        });
        Assert.StartsWith("FlexAttention 'attn0': score_mod applies If to the varying score; control flow cannot be vectorised", e.Message);
    }

    [Fact]
    public void AnOpOfAnUnknownDomainOnTheScoreIsRefused()
    {
        var fm = NewModel();
        fm.Model.OpsetImports.Add(new OpsetId("com.example", 1));
        var (g, s, _, _, _, _) = fm.ScoreBody("bad");
        g.Output(g.OpIn("com.example", "Warp", [s]), F);
        fm.Attend("attn0", Attribute.FromGraph("score_mod", g.Graph));
        var e = Refused(fm);
        Assert.Equal("FlexAttention 'attn0': score_mod applies Warp to the varying score; ops of domain 'com.example' are not known to act element by element, so they cannot be vectorised", e.Message);
    }

    [Fact]
    public void ScatterAndGatherFromAVaryingTableAndClipWithVaryingBoundsAreRefused()
    {
        var e1 = RefusedScoreMod((g, s) => g.Op("ScatterElements", g.Init("d", F, [2], new[] { 0f, 0f }), g.Init("i", I64, [1], new long[] { 0 }), s));
        Assert.Equal("FlexAttention 'attn0': score_mod applies ScatterElements to the varying score; scatters cannot be vectorised", e1.Message);
        var e2 = RefusedScoreMod((g, s) => g.Op("Gather", s, g.I64("zero", 0)));
        Assert.Contains("Gather can be vectorised only from a uniform table", e2.Message);
        var e3 = RefusedScoreMod((g, s) => g.Op("Clip", g.F32("x", 1f), s, g.F32("hi", 2f)));
        Assert.Equal("FlexAttention 'attn0': score_mod applies Clip with the varying bound score; Clip can be vectorised only with uniform bounds (use Min/Max)", e3.Message);
    }

    [Fact]
    public void AGatherFromATableOfRankTwoIsRefused()
    {
        var fm = NewModel();
        var (g, s, _, h, _, _) = fm.ScoreBody("bad");
        g.Output(g.Op("Add", s, g.Op("ReduceSum", g.Op("Gather", g.Init("T2", F, [2, 2], new[] { 1f, 2f, 3f, 4f }), h))), F);
        fm.Attend("attn0", Attribute.FromGraph("score_mod", g.Graph));
        var e = Refused(fm);
        Assert.Contains("applies Gather to the table T2 of rank 2 by the varying h; only a rank-1 table", e.Message);
    }

    [Fact]
    public void RefusalsHoldForTheNativeTargetToo()
    {
        var e = RefusedScoreMod((g, s) => g.Op("ReduceSum", s), native: true);
        Assert.StartsWith("FlexAttention 'attn0': score_mod applies ReduceSum to the varying score;", e.Message);
    }

    [Fact]
    public void AModifierOfTheWrongArityIsRefused()
    {
        var fm = NewModel();
        var g = fm.Body("three");
        var s = g.Input("score", F); g.Input("b", I64); g.Input("h", I64);
        g.Output(g.Op("Identity", s), F);
        fm.Attend("attn0", Attribute.FromGraph("score_mod", g.Graph));
        var e = Refused(fm);
        Assert.StartsWith("FlexAttention 'attn0': score_mod has 3 inputs;", e.Message);

        var fm2 = NewModel();
        var (m, b, _, _, _) = fm2.MaskBody("five");
        m.Input("extra", I64);
        m.Output(m.Op("Equal", b, b), Bool);
        fm2.Attend("attn1", Attribute.FromGraph("mask_mod", m.Graph));
        Assert.StartsWith("FlexAttention 'attn1': mask_mod has 5 input(s); it takes four scalars", Refused(fm2).Message);
    }

    [Fact]
    public void ATensorFormModifierNextToAnElementWiseMaskIsRefused()
    {
        var fm = NewModel();
        var g = fm.Body("tensor_style");
        g.Output(g.Op("Neg", g.Input("scores", F, new Shape(1, 2, 4, 4))), F, 1, 2, 4, 4);
        var (m, _, _, q, k) = fm.MaskBody("causal");
        m.Output(m.Op("GreaterOrEqual", q, k), Bool);
        fm.Attend("attn0", Attribute.FromGraph("score_mod", g.Graph), Attribute.FromGraph("mask_mod", m.Graph));
        Assert.StartsWith("FlexAttention 'attn0': score_mod has 1 input(s), but the node is in the element-wise form", Refused(fm).Message);
    }

    [Fact]
    public void ModifiersOfTheWrongTypeAreRefused()
    {
        var fm = NewModel();
        var (m, _, _, q, k) = fm.MaskBody("float_mask");
        m.Output(m.Cast(m.Op("GreaterOrEqual", q, k), F), F);
        fm.Attend("attn0", Attribute.FromGraph("mask_mod", m.Graph));
        var e = Refused(fm);
        Assert.StartsWith("FlexAttention 'attn0': mask_mod returns float32 '", e.Message);
        Assert.EndsWith("'; it must return bool", e.Message);

        var fm2 = NewModel();
        var g2 = fm2.Body("float_index");
        var s = g2.Input("score", F); g2.Input("b", I64); g2.Input("h", I64); g2.Input("q_idx", F); g2.Input("kv_idx", I64);
        g2.Output(g2.Op("Identity", s), F);
        fm2.Attend("attn0", Attribute.FromGraph("score_mod", g2.Graph));
        Assert.Equal("FlexAttention 'attn0': score_mod input 'q_idx' is float32; indices are int64 or int32", Refused(fm2).Message);

        var fm3 = NewModel();
        var (g3, s3, _, _, _, _) = fm3.ScoreBody("half_score", sp: DataType.Float16);
        g3.Output(g3.Op("Identity", s3), DataType.Float16);
        fm3.Attend("attn0", Attribute.FromGraph("score_mod", g3.Graph));
        Assert.Equal("FlexAttention 'attn0': score_mod input 'score' is float16, but scores are in the softmax precision float32", Refused(fm3).Message);
    }

    [Fact]
    public void HeadCountsThatDoNotGroupAreRefused()
    {
        var fm = new FlexModel(F, 1, 6, 4, 4, 4, 8, 8);
        fm.Attend("attn0");
        Assert.Equal("FlexAttention 'attn0': Q has 6 heads and K/V 4; the query heads must be a multiple of the key/value heads", Refused(fm).Message);
    }
}
