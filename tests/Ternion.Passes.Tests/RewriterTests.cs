using Ternion.IR;
using Ternion.Passes.Rewriting;

namespace Ternion.Passes.Tests;

/// <summary>
/// The rewrite-rule helper: matching, conditions with reasons, the closest near-miss, stamping, and
/// replacements that keep names, value_info and graph outputs — checked on ONNX Runtime by numbers.
/// </summary>
public class RewriterTests
{
    /// <summary>Add(A, Neg(B)) -> Sub(A, B): a fusion with a labelled inner node and a condition.</summary>
    private static RewriteRule AddNegToSub(Func<Match, string?>? condition = null) => new()
    {
        Name = "AddNegToSub",
        Pattern = Pattern.Op("Add", Pattern.Any("A"), Pattern.Op("Neg", Pattern.Any("B")).As("neg")).As("add"),
        Condition = condition ?? (_ => null),
        Replacement = (m, b) => [b.Op("Sub", [m["A"], m["B"]], name: m.Root.Name)],
    };

    private sealed class RulePass(params RewriteRule[] rules) : RewritePass
    {
        public override IReadOnlyList<RewriteRule> Rules => rules;
    }

    /// <summary>x, z [2, 3]: n = Neg(z); s = Add(x, n) (node 'add1'); y = Relu(s); outputs y and, optionally, n too.</summary>
    private static Model AddOfNeg(bool negAlsoOutput = false)
    {
        var m = TestModels.Empty();
        var g = m.Graph;
        var x = g.AddInput("x", TestModels.F32(2, 3));
        var z = g.AddInput("z", TestModels.F32(2, 3));
        var n = TestModels.Op(g, "Neg", "n", z);
        var s = TestModels.Op(g, "Add", "s", [x, n], [], "add1");
        s.Type = TestModels.F32(2, 3);
        g.ValueInfos.Add(s);
        TestModels.Output(g, TestModels.Op(g, "Relu", "y", s), 2, 3);
        if (negAlsoOutput) TestModels.Output(g, n, 2, 3);
        return m;
    }

    private static void AssertSameNumbers(Dictionary<string, float[]> expected, Model actual)
    {
        var got = TestModels.Run(actual);
        Assert.Equal(expected.Keys.Order(), got.Keys.Order());
        foreach (var (name, e) in expected) Assert.Equal(e, got[name]);
    }

    [Fact]
    public void FiresStampsAndKeepsNamesValueInfoAndNumbers()
    {
        var m = AddOfNeg();
        var before = TestModels.Run(m);
        var result = Rewriter.Apply(m, [AddNegToSub()]);
        Assert.Equal(1, result.Total);
        var g = m.Graph;
        Assert.Equal(["Sub", "Relu"], g.Nodes.Select(n => n.OpType)); // Neg was read only by the Add: gone
        var sub = g.Nodes.First();
        Assert.Equal("add1", sub.Name);
        Assert.Equal("AddNegToSub", sub.Metadata.Get(RewriteRule.MetadataKey));
        Assert.Equal("s", sub.Output().Name);
        Assert.Contains(sub.Output(), g.ValueInfos);
        Assert.Equal(TestModels.F32(2, 3), sub.Output().Type);
        Assert.Empty(GraphInvariants.Check(m));
        AssertSameNumbers(before, m);
    }

    [Fact]
    public void AMatchedNodeStillReadElsewhereStays()
    {
        var m = AddOfNeg(negAlsoOutput: true);
        var before = TestModels.Run(m);
        Assert.Equal(1, Rewriter.Apply(m, [AddNegToSub()]).Total);
        Assert.Equal(["Neg", "Sub", "Relu"], m.Graph.Nodes.Select(n => n.OpType));
        Assert.Empty(GraphInvariants.Check(m));
        AssertSameNumbers(before, m);
    }

    [Fact]
    public void AFailedConditionIsTheClosestNearMissWithItsReason()
    {
        var m = AddOfNeg();
        var rule = AddNegToSub(match => match.Node("neg").Input(0)!.IsGraphInput ? "B is a graph input (this test's condition)" : null);
        var outcome = Rewriter.Apply(m, [rule]).Rules.Single();
        Assert.Equal(0, outcome.Fired);
        Assert.Equal("rule AddNegToSub did not fire: closest match at node 'add1' (Add) failed because B is a graph input (this test's condition)", outcome.Describe());
        Assert.Equal(["Neg", "Add", "Relu"], m.Graph.Nodes.Select(n => n.OpType));
    }

    [Fact]
    public void TheNearMissIsTheDeepestPartialMatch()
    {
        // add0 = Add(x, z), add1 = Add(x, Abs(z)) and add3 = Add(x, com.example::Neg(z, x)) fail at input 1
        // of the Add; add2 = Add(x, Neg(z, x)) gets one node further: the Neg matches, its input count does not.
        var m = TestModels.Empty();
        var g = m.Graph;
        var x = g.AddInput("x", TestModels.F32(2, 3));
        var z = g.AddInput("z", TestModels.F32(2, 3));
        TestModels.Output(g, TestModels.Op(g, "Add", "a0", [x, z], [], "add0"), 2, 3);
        var odd = g.Append(new Node("com.example", "Neg", [z, x], [new Value("odd")])).Output();
        m.OpsetImports.Add(new OpsetId("com.example", 1));
        var abs = TestModels.Op(g, "Abs", "abs", z);
        TestModels.Output(g, TestModels.Op(g, "Add", "a1", [x, abs], [], "add1"), 2, 3);
        var neg2 = g.Append(new Node("", "Neg", [z, x], [new Value("neg2")])).Output(); // two inputs: not the pattern's Neg
        TestModels.Output(g, TestModels.Op(g, "Add", "a2", [x, neg2], [], "add2"), 2, 3);
        TestModels.Output(g, TestModels.Op(g, "Add", "a3", [x, odd], [], "add3"), 2, 3);
        var outcome = Rewriter.Apply(m, [AddNegToSub()]).Rules.Single();
        Assert.Equal(0, outcome.Fired);
        Assert.Equal("rule AddNegToSub did not fire: closest match at node 'add2' (Add) failed because Neg -> neg2 has 2 input(s); the pattern expects 1", outcome.Describe());
    }

    [Fact]
    public void StructuralNearMissesNameTheInputAndWhatProducesIt()
    {
        var m = TestModels.Empty();
        var g = m.Graph;
        var x = g.AddInput("x", TestModels.F32(2, 3));
        var abs = TestModels.Op(g, "Abs", "abs", x);
        TestModels.Output(g, TestModels.Op(g, "Add", "a", [x, abs], [], "mm3"), 2, 3);
        var outcome = Rewriter.Apply(m, [AddNegToSub()]).Rules.Single();
        Assert.Equal("rule AddNegToSub did not fire: closest match at node 'mm3' (Add) failed because input 1 of 'mm3' (Add) 'abs' is the output of Abs -> abs, not of Neg", outcome.Describe());

        var none = Rewriter.Apply(TestModels.NegRelu(), [AddNegToSub()]).Rules.Single();
        Assert.Equal("rule AddNegToSub did not fire: the model has no Add node", none.Describe());
    }

    [Fact]
    public void ACaptureUsedTwiceMustBindTheSameValue()
    {
        var twice = new RewriteRule
        {
            Name = "DoubleToMul",
            Pattern = Pattern.Op("Add", Pattern.Any("X"), Pattern.Any("X")),
            Replacement = (m, b) => [b.Op("Mul", [m["X"], b.Initializer(Tensor.FromArray("two", DataType.Float, [], [2f]), "two")])],
        };
        var m = TestModels.Empty();
        var g = m.Graph;
        var x = g.AddInput("x", TestModels.F32(2, 3));
        var z = g.AddInput("z", TestModels.F32(2, 3));
        TestModels.Output(g, TestModels.Op(g, "Add", "xx", [x, x], [], "same"), 2, 3);
        TestModels.Output(g, TestModels.Op(g, "Add", "xz", [x, z], [], "different"), 2, 3);
        var before = TestModels.Run(m);
        var outcome = Rewriter.Apply(m, [twice]).Rules.Single();
        Assert.Equal(1, outcome.Fired);
        Assert.Equal(["Mul", "Add"], g.Nodes.Select(n => n.OpType));
        Assert.Equal("different", g.Nodes.Last!.Name);
        AssertSameNumbers(before, m);
    }

    [Fact]
    public void AnExistingValueStandingInForAGraphOutputGoesThroughAStampedIdentity()
    {
        var dropAbsOfRelu = new RewriteRule
        {
            Name = "AbsOfReluIsRelu",
            Pattern = Pattern.Op("Abs", Pattern.Op("Relu", Pattern.Any("X")).As("relu")),
            Replacement = (m, b) => [m.Node("relu").Output()],
        };
        var m = TestModels.Empty();
        var g = m.Graph;
        var x = g.AddInput("x", TestModels.F32(2, 3));
        var r = TestModels.Op(g, "Relu", "r", x);
        TestModels.Output(g, TestModels.Op(g, "Abs", "y", r), 2, 3);
        var before = TestModels.Run(m);
        Assert.Equal(1, Rewriter.Apply(m, [dropAbsOfRelu]).Total);
        Assert.Equal(["Relu", "Identity"], g.Nodes.Select(n => n.OpType));
        Assert.Equal("y", g.Outputs.Single().Name);
        Assert.Equal("AbsOfReluIsRelu", g.Nodes.Last!.Metadata.Get(RewriteRule.MetadataKey));
        Assert.Empty(GraphInvariants.Check(m));
        AssertSameNumbers(before, m);
    }

    [Fact]
    public void RulesRewriteSubgraphsButNotFunctionBodies()
    {
        var m = TestModels.Empty();
        var g = m.Graph;
        var x = g.AddInput("x", TestModels.F32(2, 3));
        var z = g.AddInput("z", TestModels.F32(2, 3));
        var cond = g.AddInput("c", IrType.Tensor(DataType.Bool));
        Graph Branch(string name)
        {
            var b = new Graph { Name = name };
            var n = b.Append(new Node("", "Neg", [z], [new Value($"{name}_n")])).Output();
            var s = b.Append(new Node("", "Add", [x, n], [new Value($"{name}_s")])).Output();
            s.Type = TestModels.F32(2, 3);
            b.Outputs.Add(s);
            return b;
        }
        var ifNode = g.Append(new Node("", "If", [cond], [new Value("y")], [Attribute.FromGraph("then_branch", Branch("then")), Attribute.FromGraph("else_branch", Branch("else"))]));
        TestModels.Output(g, ifNode.Output(), 2, 3);
        var body = new Graph { Name = "f" };
        var fa = body.AddInput("a", null);
        var fb = body.AddInput("b", null);
        body.Outputs.Add(body.Append(new Node("", "Add", [fa, body.Append(new Node("", "Neg", [fb], 1)).Output()], 1)).Output());
        var f = new Function("com.example", "AddNeg", body);
        f.OpsetImports.Add(new OpsetId("", 17));
        m.Functions.Add(f);

        Assert.Equal(2, Rewriter.Apply(m, [AddNegToSub()]).Total);
        Assert.All(ifNode.Subgraphs, b => Assert.Equal(["Sub"], b.Nodes.Select(n => n.OpType)));
        Assert.Equal(["Neg", "Add"], body.Nodes.Select(n => n.OpType));
        Assert.Empty(GraphInvariants.Check(m));
    }

    [Fact]
    public void ARuleImportsTheDomainsItsNodesUse()
    {
        var toCustom = new RewriteRule
        {
            Name = "ReluToCustom",
            Pattern = Pattern.Op("Relu", Pattern.Any("X")),
            Replacement = (m, b) => [b.Op("com.example", "MyRelu", [m["X"]])],
            Imports = [new OpsetId("com.example", 3)],
        };
        var m = TestModels.NegRelu();
        new PassManager([new RulePass(toCustom)], new PassManagerOptions { CheckInvariants = true }).Run(m, new PassContext());
        Assert.Equal(3, m.GetOpsetVersion("com.example"));

        var forgetful = new RewriteRule { Name = "Forgetful", Pattern = toCustom.Pattern, Replacement = toCustom.Replacement };
        var e = Assert.Throws<InvariantViolationException>(() =>
            new PassManager([new RulePass(forgetful)], new PassManagerOptions { CheckInvariants = true }).Run(TestModels.NegRelu(), new PassContext()));
        Assert.Equal("RulePass", e.Pass);
        Assert.Contains("uses domain 'com.example', which opset_import does not list", e.Message);
    }

    [Fact]
    public void ARewritePassLogsFiringsAndNearMisses()
    {
        var log = new ListLogger();
        var never = new RewriteRule
        {
            Name = "NeverFires",
            Pattern = Pattern.Op("Relu", Pattern.Op("Abs", Pattern.Any("X"))),
            Replacement = (m, b) => [m["X"]],
        };
        int changes = new PassManager([new RulePass(AddNegToSub(), never)], new PassManagerOptions { CheckInvariants = true })
            .Run(AddOfNeg(), new PassContext(logger: log)).Graph.Nodes.Count;
        Assert.Contains("rule AddNegToSub fired 1 time(s)", log.Lines);
        Assert.Contains("rule NeverFires did not fire: closest match at node Relu -> y failed because input 0 of Relu -> y 's' is the output of 'add1' (Sub), not of Abs", log.Lines);
        Assert.Equal(2, changes);
    }

    [Fact]
    public void DuplicateLabelsAreRefused()
    {
        var bad = new RewriteRule
        {
            Name = "Bad",
            Pattern = Pattern.Op("Add", Pattern.Op("Neg", Pattern.Any("A")).As("n"), Pattern.Op("Neg", Pattern.Any("B")).As("n")),
            Replacement = (m, b) => [m["A"]],
        };
        var e = Assert.Throws<ArgumentException>(() => Rewriter.Apply(AddOfNeg(), [bad]));
        Assert.Equal("rule Bad: the label 'n' names two nodes of the pattern", e.Message);
    }
}
