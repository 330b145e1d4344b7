using Ternion.IR;
using Ternion.IR.Serialization;
using Ternion.Passes.Ternary;
using Ternion.TestSupport;

namespace Ternion.Passes.Tests;

/// <summary>
/// The pass manager holds every pass to the invariants and to its contract, and names the pass that
/// broke one. Each rogue pass below breaks exactly one thing on purpose.
/// </summary>
public class PassManagerTests
{
    private sealed class Rogue(string name, Func<Model, int> apply) : InPlacePass
    {
        public override string Name => name;
        protected override int Apply(Model model, PassContext context) => apply(model);
    }

    private static Model RunChecked(Model m, params IPass[] passes) =>
        new PassManager(passes, new PassManagerOptions { CheckInvariants = true }).Run(m, new PassContext());

    private static IPass[] Pack => [new DetectTernaryWeights(), new PackTernaryWeights()];

    [Fact]
    public void APassThatDropsAProducerIsNamed()
    {
        var m = TestModels.NegRelu();
        var rogue = new Rogue("DropNeg", model =>
        {
            var g = model.Graph;
            g.Remove(g.Nodes.First(n => n.OpType == "Neg"), force: true); // 'h' still feeds Relu
            return 1;
        });
        var e = Assert.Throws<InvariantViolationException>(() => RunChecked(m, new SortTopologically(), rogue));
        Assert.Equal("DropNeg", e.Pass);
        Assert.StartsWith("pass 'DropNeg' broke the IR: main graph: node Relu -> y input 0 'h' is used before it is defined", e.Message);
    }

    [Fact]
    public void APassThatForgetsAUseIsNamed()
    {
        // The node is wired (so 'x' records a use) but never inserted: x's use-list names a node that is nowhere.
        var rogue = new Rogue("ForgetInsert", model => { _ = new Node("", "Abs", [model.Graph.Inputs[0]], 1, name: "lost"); return 1; });
        var e = Assert.Throws<InvariantViolationException>(() => RunChecked(TestModels.NegRelu(), rogue));
        Assert.Equal("ForgetInsert", e.Pass);
        Assert.Contains("use-list of 'x' names node 'lost' (Abs) input 0, which does not read it", e.Message);
    }

    [Fact]
    public void APassThatRemovesAnOpsetImportIsNamed()
    {
        var rogue = new Rogue("DropTernionImport", model => model.OpsetImports.RemoveAll(o => o.DomainName == TernaryDecodeOp.Domain));
        var e = Assert.Throws<InvariantViolationException>(() => RunChecked(TestModels.TernaryMatMul(), [.. Pack, rogue]));
        Assert.Equal("DropTernionImport", e.Pass);
        Assert.Equal("pass 'DropTernionImport' broke the IR: main graph: node com.ternion::TernaryDecode -> w uses domain 'com.ternion', which opset_import does not list", e.Message);
    }

    [Fact]
    public void APassThatLeavesAGraphOutputUnproducedIsNamed()
    {
        var rogue = new Rogue("DropRelu", model =>
        {
            var g = model.Graph;
            g.Remove(g.Nodes.First(n => n.OpType == "Relu"), force: true);
            return 1;
        });
        var e = Assert.Throws<InvariantViolationException>(() => RunChecked(TestModels.NegRelu(), rogue));
        Assert.Contains("graph output 'y' is not produced by any node, input or initializer", e.Message);
    }

    [Fact]
    public void APassThatDefinesANameTwiceIsNamed()
    {
        // The IR refuses the duplicate at once; the manager says which pass tried it.
        var rogue = new Rogue("DuplicateH", model => { model.Graph.Append(new Node("", "Abs", [model.Graph.Inputs[0]], [new Value("h")])); return 1; });
        var e = Assert.Throws<PassFailedException>(() => RunChecked(TestModels.NegRelu(), rogue));
        Assert.Equal("DuplicateH", e.Pass);
        Assert.Equal("pass 'DuplicateH' made an invalid change to the IR: value name 'h' is defined twice in graph 'g'", e.Message);
    }

    [Fact]
    public void APassThatCrashesIsNamed()
    {
        var rogue = new Rogue("Crashes", _ => throw new InvalidOperationException("boom"));
        var e = Assert.Throws<PassFailedException>(() => new PassManager([rogue]).Run(TestModels.NegRelu(), new PassContext()));
        Assert.Equal("pass 'Crashes' failed with an internal error (InvalidOperationException: boom)", e.Message);
    }

    [Fact]
    public void ErrorsAboutTheModelPassThroughUnwrapped()
    {
        var rogue = new Rogue("Refuses", _ => throw new TernionException("node 'n1': unsupported"));
        var e = Assert.Throws<TernionException>(() => new PassManager([rogue]).Run(TestModels.NegRelu(), new PassContext()));
        Assert.Equal("node 'n1': unsupported", e.Message);
    }

    [Fact]
    public void AnInPlacePassThatHidesAChangeIsCaught()
    {
        var rogue = new Rogue("Sneaky", model => { model.Graph.Nodes.First().Name = "renamed"; return 0; });
        var e = Assert.Throws<PassContractException>(() => RunChecked(TestModels.NegRelu(), rogue));
        Assert.Equal("pass 'Sneaky' reported no change but changed the model", e.Message);
        // The same pass is honest once it counts its change.
        var honest = new Rogue("Honest", model => { model.Graph.Nodes.First().Name = "renamed"; return 1; });
        RunChecked(TestModels.NegRelu(), honest);
    }

    [Fact]
    public void AnInPlacePassReturningAnotherModelIsCaught()
    {
        var liar = new DelegatePass("Liar", inPlace: true, (m, _) => new PassResult(TestModels.NegRelu(), true, 1));
        var e = Assert.Throws<PassContractException>(() => new PassManager([liar]).Run(TestModels.NegRelu(), new PassContext()));
        Assert.Equal("pass 'Liar' says it works in place but returned another model", e.Message);
    }

    /// <summary>A functional pass done right: copies the model (through bytes; fine for small models) and changes the copy.</summary>
    private sealed class RenameNodesCopy : FunctionalPass
    {
        protected override PassResult Transform(Model model, PassContext context)
        {
            var copy = ModelSerializer.FromBytes(ModelSerializer.ToBytes(model));
            foreach (var n in copy.Graph.Nodes) n.Name = "copied_" + n.OpType;
            return new PassResult(copy, true, copy.Graph.Nodes.Count);
        }
    }

    /// <summary>Claims to be functional but edits its input.</summary>
    private sealed class RenameNodesInPlaceByMistake : FunctionalPass
    {
        protected override PassResult Transform(Model model, PassContext context)
        {
            var copy = ModelSerializer.FromBytes(ModelSerializer.ToBytes(model));
            foreach (var n in model.Graph.Nodes) n.Name = "oops";
            return new PassResult(copy, true, 1);
        }
    }

    [Fact]
    public void AFunctionalPassLeavesItsInputAlone()
    {
        var input = TestModels.NegRelu();
        ulong before = ModelFingerprint.Of(input);
        var output = RunChecked(input, new RenameNodesCopy(), new SortTopologically());
        Assert.NotSame(input, output);
        Assert.Equal(before, ModelFingerprint.Of(input));
        Assert.All(output.Graph.Nodes, n => Assert.StartsWith("copied_", n.Name));
        Assert.All(input.Graph.Nodes, n => Assert.Null(n.Name));
    }

    [Fact]
    public void TheFunctionalBaseClassCatchesAMutatedInputEvenWithoutChecks()
    {
        var e = Assert.Throws<PassContractException>(() => new PassManager([new RenameNodesInPlaceByMistake()]).Run(TestModels.NegRelu(), new PassContext()));
        Assert.StartsWith("pass 'RenameNodesInPlaceByMistake' is functional but changed the model it was given", e.Message);
    }

    [Fact]
    public void TheManagerCatchesAFunctionalPassWrittenAgainstIPassDirectly()
    {
        var pass = new DelegatePass("Direct", inPlace: false, (m, _) => { m.Graph.Name = "changed"; return new PassResult(TestModels.NegRelu(), true, 1); });
        var e = Assert.Throws<PassContractException>(() => RunChecked(TestModels.NegRelu(), pass));
        Assert.Equal("pass 'Direct' is functional but changed the model it was given", e.Message);
    }

    [Fact]
    public void ADefectTheInputAlreadyHadIsNotBlamedOnAPass()
    {
        // Built out of order: Relu reads 'h' before Neg defines it. The loader accepts such files;
        // sorting fixes them, and a pass that neither fixes nor worsens it is not blamed.
        var m = TestModels.Empty();
        var g = m.Graph;
        var x = g.AddInput("x", TestModels.F32(2, 3));
        var h = new Value("h");
        TestModels.Output(g, TestModels.Op(g, "Relu", "y", h), 2, 3);
        g.InsertBefore(g.Nodes.First!, new Node("", "Abs", [x], [new Value("unused")]));
        g.Append(new Node("", "Neg", [x], [h]));
        var idle = new Rogue("Idle", _ => 0);
        var sorted = RunChecked(m, idle, new SortTopologically(), idle);
        Assert.Equal(["Abs", "Neg", "Relu"], sorted.Graph.Nodes.Select(n => n.OpType));
        Assert.Empty(GraphInvariants.Check(sorted));
    }

    [Fact]
    public void VerboseLogNamesEveryPassWithItsChangesAndTime()
    {
        var log = new ListLogger();
        new PassManager([new SortTopologically(), .. Pack, new AddTernaryDecodeFunction()], new PassManagerOptions { CheckInvariants = true })
            .Run(TestModels.TernaryMatMul(), new PassContext(logger: log));
        var lines = log.Lines.Where(l => l.StartsWith("pass ", StringComparison.Ordinal)).ToList();
        Assert.Equal(4, lines.Count);
        Assert.Matches(@"^pass 01 SortTopologically: 0 change\(s\), model unchanged, \d+\.\d ms$", lines[0]);
        Assert.Matches(@"^pass 03 PackTernaryWeights: 1 change\(s\), model changed, \d+\.\d ms$", lines[2]);
        Assert.Matches(@"^pass 04 AddTernaryDecodeFunction: 1 change\(s\), model changed, \d+\.\d ms$", lines[3]);
    }

    [Fact]
    public void DumpWritesALoadableModelPerPassInNumberedFolders()
    {
        using var dir = new TempDir("dump");
        new PassManager([new SortTopologically(), .. Pack, new AddTernaryDecodeFunction()], new PassManagerOptions { DumpDirectory = dir.Path })
            .Run(TestModels.TernaryMatMul(), new PassContext());
        var folders = Directory.GetDirectories(dir.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(["01-SortTopologically", "02-DetectTernaryWeights", "03-PackTernaryWeights", "04-AddTernaryDecodeFunction"], folders);
        var models = folders.Select(f => ModelSerializer.Load(Path.Combine(dir.Path, f!, "model.onnx"))).ToList();
        Assert.DoesNotContain(models[1].AllNodes(), TernaryDecodeOp.Is);
        Assert.Contains(models[2].AllNodes(), TernaryDecodeOp.Is);
        Assert.Empty(models[2].Functions);
        Assert.Single(models[3].Functions);
    }

    [Fact]
    public void FingerprintSeesStructureNotObjects()
    {
        var a = TestModels.NegRelu();
        ulong fa = ModelFingerprint.Of(a);
        Assert.Equal(fa, ModelFingerprint.Of(a));
        a.Graph.Nodes.First().SetAttribute(Attribute.Int("unused", 1));
        Assert.NotEqual(fa, ModelFingerprint.Of(a));
        ulong fb = ModelFingerprint.Of(a);
        a.Metadata.Set("k", "v");
        Assert.NotEqual(fb, ModelFingerprint.Of(a));
        ulong fc = ModelFingerprint.Of(a);
        var relu = a.Graph.Nodes.Last!;
        relu.SetInput(0, a.Graph.Inputs[0]); // rewired: same op, same names elsewhere
        Assert.NotEqual(fc, ModelFingerprint.Of(a));
    }
}

/// <summary>A pass from a lambda, for contract tests that need an IPass written without a base class.</summary>
public sealed class DelegatePass(string name, bool inPlace, Func<Model, PassContext, PassResult> run) : IPass
{
    public string Name => name;
    public bool InPlace => inPlace;
    public PassResult Run(Model model, PassContext context) => run(model, context);
}
