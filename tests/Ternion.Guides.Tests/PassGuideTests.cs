using Ternion.Backends.Verification;
using Ternion.Guides.Tests.GuideCode;
using Ternion.IR;
using Ternion.IR.Serialization;
using Ternion.Passes;
using Ternion.Passes.Rewriting;

namespace Ternion.Guides.Tests;

/// <summary>Runs the code of docs/adding-a-pass.md: the in-place pass, the rewrite pass, and running them.</summary>
public class PassGuideTests
{
    /// <summary>x [2, 3, 4] -> Transpose(perm1) -> Transpose(perm2) -> Relu -> y; every node has a doc string.</summary>
    private static Model TwoTransposes(long[] perm1, long[] perm2)
    {
        var g = new Graph { Name = "transposes" };
        var m = new Model(g) { IrVersion = 8 };
        m.OpsetImports.Add(new OpsetId("", 17));
        var x = g.AddInput("x", IrType.Tensor(DataType.Float, 2, 3, 4));
        Value Add(string op, Value input, params Attribute[] attrs)
        {
            var n = g.Append(new Node("", op, [input], 1, attrs, name: $"{op.ToLowerInvariant()}{g.Nodes.Count}") { DocString = "exported at model.py:12" });
            return n.Output();
        }
        var t1 = Add("Transpose", x, Attribute.Ints("perm", perm1));
        var t2 = Add("Transpose", t1, Attribute.Ints("perm", perm2));
        var y = Add("Relu", t2);
        y.Type = IrType.Tensor(DataType.Float, 2, 3, 4);
        g.Outputs.Add(y);
        return m;
    }

    private static float[] Run(Model m)
    {
        var x = RunValue.FromArray(DataType.Float, [2, 3, 4], Enumerable.Range(0, 24).Select(i => i * 0.5f - 6).ToArray());
        return OrtRunner.Run(ModelSerializer.ToBytes(m), new Dictionary<string, RunValue> { ["x"] = x }).Single().Value.ToArray<float>();
    }

    [Fact]
    public void TheGuidePipelineStripsDocStringsAndFoldsTheTransposesWithoutChangingTheNumbers()
    {
        var model = TwoTransposes([1, 2, 0], [2, 0, 1]);
        var expected = Run(model);
        var logger = new ListLogger();

        // guide:begin run-passes
        var manager = new PassManager(
            [new SortTopologically(), new StripNodeDocStrings(), new FoldDoubleTranspose()],
            new PassManagerOptions { CheckInvariants = true });
        var result = manager.Run(model, new PassContext(logger: logger));
        // guide:end run-passes

        Assert.Equal(["Relu"], result.Graph.Nodes.Select(n => n.OpType));
        Assert.All(result.AllNodes(), n => Assert.Null(n.DocString));
        Assert.Contains("rule FoldDoubleTranspose fired 1 time(s)", logger.Lines);
        Assert.Equal(expected, Run(result));
    }

    [Fact]
    public void TransposesThatDoNotCancelStayAndTheLogSaysWhy()
    {
        var model = TwoTransposes([1, 2, 0], [1, 2, 0]);
        var expected = Run(model);
        var logger = new ListLogger();
        new PassManager([new FoldDoubleTranspose()], new PassManagerOptions { CheckInvariants = true }).Run(model, new PassContext(logger: logger));
        Assert.Equal(["Transpose", "Transpose", "Relu"], model.Graph.Nodes.Select(n => n.OpType));
        Assert.Contains("rule FoldDoubleTranspose did not fire: closest match at node 'transpose1' (Transpose) failed because perm [1,2,0] does not undo perm [1,2,0]", logger.Lines);
        Assert.Equal(expected, Run(model));
    }

    [Fact]
    public void StrippingCountsWhatItChangedAndNothingTheSecondTime()
    {
        var model = TwoTransposes([0, 1, 2], [0, 1, 2]);
        var pass = new StripNodeDocStrings();
        Assert.Equal(new PassResult(model, true, 3), pass.Run(model, new PassContext()));
        Assert.Equal(new PassResult(model, false, 0), pass.Run(model, new PassContext()));
    }

    [Fact]
    public void TheRuleStampsWhatItCreates()
    {
        // Folding returns X itself; where the graph output hangs on it, an Identity keeps the output's name.
        var g = new Graph { Name = "bare" };
        var m = new Model(g) { IrVersion = 8 };
        m.OpsetImports.Add(new OpsetId("", 17));
        var x = g.AddInput("x", IrType.Tensor(DataType.Float, 2, 3));
        var t1 = g.Append(new Node("", "Transpose", [x], 1, [Attribute.Ints("perm", [1, 0])])).Output();
        var y = g.Append(new Node("", "Transpose", [t1], [new Value("y", IrType.Tensor(DataType.Float, 2, 3))], [Attribute.Ints("perm", [1, 0])])).Output();
        g.Outputs.Add(y);
        Assert.Equal(1, Rewriter.Apply(m, [FoldDoubleTranspose.Rule]).Total);
        var identity = Assert.Single(g.Nodes);
        Assert.Equal(("Identity", "FoldDoubleTranspose", "y"), (identity.OpType, identity.Metadata.Get(RewriteRule.MetadataKey), identity.Output().Name));
    }
}

public sealed class ListLogger : Microsoft.Extensions.Logging.ILogger
{
    public List<string> Lines { get; } = new();
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;
    public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (Lines) Lines.Add(formatter(state, exception));
    }
}
