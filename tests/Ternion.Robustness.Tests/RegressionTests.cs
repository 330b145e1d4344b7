using System.Diagnostics;
using Google.Protobuf;
using Ternion.IR;
using Ternion.IR.Onnx;
using Ternion.IR.Serialization;
using Ternion.Robustness.Tests.Harness;
using Ternion.TestSupport;

namespace Ternion.Robustness.Tests;

/// <summary>One test per defect the corpus and the fuzzer found, each pinned to the exact behaviour of the fix.</summary>
public class RegressionTests : IDisposable
{
    private readonly TempDir _dir = new("regress");
    public void Dispose() => _dir.Dispose();

    private static Model Load(ModelProto m, string name = "m.onnx") => ModelSerializer.FromBytes(m.ToByteArray(), name);

    [Fact]
    public void TwoAttributesOfOneNameAreRefusedNotSilentlyMerged()
    {
        // Before: the second 'axis' replaced the first, so a convert lost an attribute without a word.
        var m = Protos.Tiny();
        m.Graph.Node[0].Attribute.Add(ModelProtos.IntAttr("axis", 0));
        m.Graph.Node[0].Attribute.Add(ModelProtos.IntAttr("axis", 1));
        var e = Assert.Throws<ModelFormatException>(() => Load(m));
        Assert.Equal("m.onnx: graph 'tiny': node Relu -> y has the attribute 'axis' twice", e.Message);
    }

    [Fact]
    public void AttributesOfOneNameInDifferentSubgraphsAreFine()
    {
        // The duplicate check is per node: nested nodes with the same attribute names are no duplicates.
        var g = ModelProtos.WithCondition("main");
        var then = ModelProtos.Branch("then", "x", "t");
        then.Node[0].Attribute.Add(ModelProtos.IntAttr("k", 1));
        var @if = ModelProtos.If("c", "y", then, ModelProtos.Branch("else", "x", "e"));
        @if.Attribute.Add(ModelProtos.IntAttr("k", 2));
        g.Node.Add(@if);
        var model = Load(Protos.Wrap(g));
        Assert.Equal(3, model.Graph.Nodes.First!.Attributes.Count);
    }

    [Fact]
    public void AHundredThousandAttributesLoadInLinearTime()
    {
        // Before: each attribute searched the node's list, 5e9 comparisons: minutes for one node.
        var m = Protos.Tiny();
        for (int i = 0; i < 100_000; i++) m.Graph.Node[0].Attribute.Add(ModelProtos.IntAttr($"a{i}", i));
        var bytes = m.ToByteArray();
        var clock = Stopwatch.StartNew();
        var model = ModelSerializer.FromBytes(bytes, "m.onnx");
        Assert.Equal(100_000, model.Graph.Nodes.First!.Attributes.Count);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
        Assert.Equal(bytes, ModelSerializer.ToBytes(model));
    }

    [Fact]
    public void RecursiveFunctionsAreRefused()
    {
        var m = Protos.Tiny();
        foreach (var (name, callee) in new[] { ("F", "G"), ("G", "H"), ("H", "F") })
        {
            var f = new FunctionProto { Name = name, Domain = "com.example" };
            f.Input.Add("a");
            f.Output.Add("b");
            f.Node.Add(Protos.Node(callee, ["a"], ["b"], "com.example"));
            m.Functions.Add(f);
        }
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.example", Version = 1 });
        var e = Assert.Throws<ModelFormatException>(() => Load(m));
        Assert.Equal("m.onnx: function 'com.example::F' calls itself through 'com.example::G' -> 'com.example::H'; ONNX functions may not be recursive", e.Message);
    }

    [Fact]
    public void FunctionsCallingOtherFunctionsWithoutACycleAreFine()
    {
        // F calls G twice, and an overload of F is a different function: no recursion.
        var m = Protos.Tiny();
        var f = new FunctionProto { Name = "F", Domain = "com.example" };
        f.Input.Add("a");
        f.Output.Add("c");
        f.Node.Add(Protos.Node("G", ["a"], ["b"], "com.example"));
        f.Node.Add(Protos.Node("G", ["b"], ["c"], "com.example"));
        var g = new FunctionProto { Name = "G", Domain = "com.example" };
        g.Input.Add("a");
        g.Output.Add("b");
        g.Node.Add(Protos.Node("Relu", ["a"], ["b"]));
        var fo = new FunctionProto { Name = "F", Domain = "com.example", Overload = "v2" };
        fo.Input.Add("a");
        fo.Output.Add("b");
        var call = Protos.Node("F", ["a"], ["b"], "com.example");
        fo.Node.Add(call);
        m.Functions.AddRange([f, g, fo]);
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.example", Version = 1 });
        Assert.Equal(3, Load(m).Functions.Count);
    }

    [Fact]
    public void DeepNestingThatIsNotSubgraphsIsNamedAsSuch()
    {
        // Before: a type nested 1,000 levels was reported as "subgraphs are nested deeper than 100 levels" only.
        var core = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1 } }.ToByteArray();
        var type = Wire.Nest(core, Enumerable.Range(0, 1000).SelectMany(_ => new[] { 1, 4 }).ToArray());
        var vi = Wire.Nest([.. new ValueInfoProto { Name = "deep" }.ToByteArray(), .. Wire.Nest(type, [2])], [13, 7]);
        var e = Assert.Throws<ModelFormatException>(() => ModelSerializer.FromBytes([.. Protos.Tiny().ToByteArray(), .. vi], "m.onnx"));
        Assert.Equal("m.onnx: subgraphs are nested deeper than 100 levels, or another part of the file (e.g. a type) is nested as deeply", e.Message);
    }

    [Fact]
    public void CompileRefusesABrokenTernaryDecodeForEveryTargetNamingTheFile()
    {
        // Before: fallback and native kept a TernaryDecode with a reserved byte (or a shape its packed
        // input cannot hold) and wrote a model that decodes to garbage; folded named no file.
        var model = _dir.File("td.onnx");
        Protos.Write(ModelProtos.TernaryDecodeModel((n, p, s) =>
        {
            var b = p.RawData.ToByteArray();
            b[300] = 250;
            p.RawData = ByteString.CopyFrom(b);
        }), model);
        foreach (var target in new[] { "fallback", "native", "folded", "ort-nbits" })
        {
            var r = CliHarness.Run("compile", model, "-o", _dir.File("out.onnx"), "--target", target);
            Expect.Refused(r, "td.onnx");
            Assert.Equal($"ternion: error: {model}: TernaryDecode com.ternion::TernaryDecode -> w: ternary tensor 'w.ttf1': packed byte at offset 300 (row 2, byte 44 of the row) is 250; bytes 243..255 are reserved in TTF1", r.ErrorLines[0]);
            Expect.FolderHolds(_dir.Path, "td.onnx");
        }
    }

    [Fact]
    public void CompileRefusesNonZeroPaddingInAnExistingTernaryDecode()
    {
        // K = 640 with block 320 has no padding; K = 600 pads each row with 40 zero trits (8 bytes of 0x79).
        var model = _dir.File("pad.onnx");
        Protos.Write(ModelProtos.TernaryDecodeModel((n, p, s) =>
        {
            var b = p.RawData.ToByteArray();
            b[125] = 0x7A; // the 126th byte of row 0: in the padding (row data is 120 bytes)
            p.RawData = ByteString.CopyFrom(b);
        }, k: 600), model);
        var r = CliHarness.Run("compile", model, "-o", _dir.File("out.onnx"), "--target", "native");
        Expect.Refused(r, "pad.onnx", "padding byte at offset 125");
    }

    [Fact]
    public void AValidTernaryDecodeStillCompilesForEveryTarget()
    {
        var model = _dir.File("td.onnx");
        Protos.Write(ModelProtos.TernaryDecodeModel(k: 600), model);
        foreach (var target in new[] { "fallback", "native", "folded", "ort-nbits" })
        {
            var r = CliHarness.Run("compile", model, "-o", _dir.File($"{target}.onnx"), "--target", target);
            Assert.True(r.ExitCode == 0, r.ToString());
        }
    }

    /// <summary>y = x @ w with w a ternary float [64, 32] initializer (2,048 elements: a packing candidate).</summary>
    private static ModelProto TernaryMatMul(Action<ModelProto>? edit = null)
    {
        var rng = new Random(3);
        var g = new GraphProto { Name = "mm" };
        g.Input.Add(Protos.Float("x", 2, 64));
        g.Output.Add(Protos.Float("y", 2, 32));
        g.Initializer.Add(Protos.FloatTensor("w", [64, 32], Enumerable.Range(0, 64 * 32).Select(_ => (rng.Next(3) - 1) * 0.5f).ToArray()));
        g.Node.Add(Protos.Node("MatMul", ["x", "w"], ["y"]));
        var m = Protos.Wrap(g);
        edit?.Invoke(m);
        return m;
    }

    private CliOutcome Compile(ModelProto m, string target, params string[] extra)
    {
        var model = _dir.File("m.onnx");
        Protos.Write(m, model);
        return CliHarness.Run(["compile", model, "-o", _dir.File("out.onnx"), "--target", target, .. extra]);
    }

    [Fact]
    public void ADeadMatMulWithAnOmittedOutputCompilesForOrtNBits()
    {
        // A second MatMul reads the same weight and has its output omitted (""): nothing reads it.
        var m = TernaryMatMul(m => m.Graph.Node.Add(Protos.Node("MatMul", ["x", "w"], [""])));
        foreach (var target in new[] { "fallback", "native", "folded", "ort-nbits" })
        {
            var r = Compile(m, target);
            Assert.True(r.ExitCode == 0, r.ToString());
        }
    }

    [Fact]
    public void ATernaryDecodeWithAnOmittedOutputIsRefused()
    {
        var m = ModelProtos.TernaryDecodeModel((n, p, s) => n.Output[0] = "");
        m.Graph.Node.RemoveAt(1);
        m.Graph.Output[0] = Protos.Float("x", 2, 640);
        foreach (var target in new[] { "fallback", "native", "folded", "ort-nbits" })
            Expect.Refused(Compile(m, target), "m.onnx", "TernaryDecode", "one output");
    }

    [Fact]
    public void ATernaryDecodeWithAMissingInputIsRefused()
    {
        var m = ModelProtos.TernaryDecodeModel((n, p, s) => n.Input.RemoveAt(1));
        foreach (var target in new[] { "fallback", "native", "folded", "ort-nbits" })
            Expect.Refused(Compile(m, target), "m.onnx", "TernaryDecode", "two inputs");
    }

    [Fact]
    public void ADequantizeLinearWithoutOutputsIsNoPackingCandidate()
    {
        // An int8 weight of trits read only by a DequantizeLinear that has no outputs at all.
        var m = TernaryMatMul(m =>
        {
            var q = new TensorProto { Name = "q", DataType = (int)Ternion.IR.DataType.Int8, RawData = ByteString.CopyFrom(Enumerable.Range(0, 2048).Select(i => (byte)(i % 3 == 0 ? 0xFF : i % 3)).ToArray()) };
            q.Dims.AddRange([64, 32]);
            m.Graph.Initializer.Add(q);
            m.Graph.Initializer.Add(Protos.FloatTensor("qs", [], [0.5f]));
            m.Graph.Node.Add(Protos.Node("DequantizeLinear", ["q", "qs"], []));
        });
        var r = Compile(m, "fallback");
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    [Fact]
    public void AnEmptyInt8WeightWithMinElementsZeroIsNoPackingCandidate()
    {
        // --min-elements 0 lets a [0, 32] int8 weight through to the per-channel arithmetic.
        var m = TernaryMatMul(m =>
        {
            var q = new TensorProto { Name = "q", DataType = (int)Ternion.IR.DataType.Int8, RawData = ByteString.Empty };
            q.Dims.AddRange([0, 32]);
            m.Graph.Initializer.Add(q);
            m.Graph.Initializer.Add(Protos.FloatTensor("qs", [32], new float[32]));
            m.Graph.Input.Add(Protos.Float("e", 2, 0));
            m.Graph.Node.Add(Protos.Node("DequantizeLinear", ["q", "qs"], ["dq"]));
            m.Graph.Node.Add(Protos.Node("MatMul", ["e", "dq"], ["z"]));
            m.Graph.Output.Add(Protos.Float("z", 2, 32));
        });
        foreach (var target in new[] { "fallback", "folded" })
        {
            var r = Compile(m, target, "--min-elements", "0");
            Assert.True(r.ExitCode == 0, r.ToString());
        }
    }

    [Fact]
    public void ATensorStoredInSegmentsIsCarriedNotRead()
    {
        // A legacy segment switches off the size check, so the loader cannot trust its data:
        // convert carries it as it is, and compile must not read more values than dims allow.
        var m = TernaryMatMul(m =>
        {
            var w = m.Graph.Initializer[0];
            var values = Enumerable.Range(0, 64 * 32 + 100).Select(i => (i % 3 - 1) * 0.5f).ToArray();
            w.ClearRawData();
            w.FloatData.AddRange(values);
            w.Segment = new TensorProto.Types.Segment { Begin = 0, End = values.Length };
        });
        var model = _dir.File("seg.onnx");
        Protos.Write(m, model);
        Expect.Succeeded(CliHarness.Run("convert", model, "-o", _dir.File("c.onnx")));
        Assert.Equal(File.ReadAllBytes(model), File.ReadAllBytes(_dir.File("c.onnx")));
        // --external-data always moves every tensor of 1 KiB or more, except this one, which it cannot read.
        Expect.Succeeded(CliHarness.Run("convert", model, "-o", _dir.File("c2.onnx"), "--external-data", "always"));
        Assert.Equal(File.ReadAllBytes(model), File.ReadAllBytes(_dir.File("c2.onnx")));
        foreach (var target in new[] { "fallback", "folded" })
        {
            var r = Compile(m, target, "--report", _dir.File("r.json"));
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.Contains("stored in segments", File.ReadAllText(_dir.File("r.json")));
        }
    }

    [Fact]
    public void FoldingRefusesADecodedWeightLargerThanOneArrayBeforeAllocatingIt()
    {
        // 128 MiB of packed zeros (a sparse file) declares [655360, 1024]: 2.7 GB of float32 once
        // decoded. Before: the fold allocated 2.7 GB, then failed with "out of memory".
        var layout = new Ternion.IR.Ternary.TernaryLayout([655360, 1024], 0);
        using (var f = new FileStream(_dir.File("big.ttf1"), FileMode.CreateNew)) f.SetLength(layout.PackedBytes);
        var m = ModelProtos.TernaryDecodeModel((n, p, s) =>
        {
            n.Attribute[0] = ModelProtos.IntsAttr("shape", 655360, 1024);
            p.ClearRawData();
            p.Dims.Clear();
            p.Dims.AddRange([layout.M, layout.RowBytes]);
            p.DataLocation = TensorProto.Types.DataLocation.External;
            p.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "big.ttf1" });
        });
        m.Graph.Input[0] = Protos.Float("x", 2, 655360);
        m.Graph.Output[0] = Protos.Float("y", 2, 1024);
        var r = Compile(m, "folded");
        Expect.Refused(r, "m.onnx", "would be 2,684,354,560 bytes", "choose a target that keeps TernaryDecode");
        Assert.True(r.AllocatedBytes < 64 << 20, r.ToString());
    }

    [Fact]
    public void ANodeWithoutOpTypeIsRefused()
    {
        // Found by the fuzzer: a modifier-graph node whose op_type was deleted reached
        // LowerFlexAttention as a null OpType (NullReferenceException).
        var m = Protos.Tiny();
        m.Graph.Node[0].ClearOpType();
        var e = Assert.Throws<ModelFormatException>(() => Load(m));
        Assert.Equal("m.onnx: graph 'tiny': node producing 'y' has no op_type", e.Message);
        var model = _dir.File("flex.onnx");
        var sample = ModelProto.Parser.ParseFrom(File.ReadAllBytes(TruncationTests.SamplePath));
        sample.Graph.Node.First(n => n.OpType == "FlexAttention").Attribute.First(a => a.Name == "mask_mod").G.Node[0].ClearOpType();
        Protos.Write(sample, model);
        Expect.Refused(CliHarness.Run("compile", model, "-o", _dir.File("out.onnx")), "flex.onnx", "has no op_type");
    }

    [Fact]
    public void EmptyPathsAreRefusedWithOneLineNotAnInternalError()
    {
        // Before: Path.GetFullPath("") threw ArgumentException, reported as "internal error".
        var model = _dir.File("m.onnx");
        Protos.Write(Protos.Tiny(), model);
        foreach (var (args, says) in new (string[], string)[]
        {
            (["inspect", ""], "no model file given"),
            (["convert", model, "-o", ""], "the output path is empty"),
            (["compile", model, "-o", _dir.File("out.onnx"), "--report", ""], "report: the path is empty"),
            (["targets", "--plugin", ""], "plugin: the path is empty"),
            (["verify", "", model], "no model file given"),
        })
        {
            var r = CliHarness.Run(args);
            Assert.True(r.ExitCode == 2 && r.ErrorLines.Length == 1, r.ToString());
            Assert.Equal($"ternion: error: {says}", r.ErrorLines[0][..Math.Min(r.ErrorLines[0].Length, 16 + says.Length)]);
            Expect.FolderHolds(_dir.Path, "m.onnx");
        }
    }

    [Fact]
    public void AReportThatCannotBeWrittenIsRefusedBeforeTheOutputIs()
    {
        // Before: the model was written, then the report failed: exit 2 with an output on disk.
        var model = _dir.File("m.onnx");
        Protos.Write(Protos.Tiny(), model);
        var r = CliHarness.Run("compile", model, "-o", _dir.File("out.onnx"), "--report", _dir.File("missing/report.json"));
        Expect.Refused(r, "report.json", "does not exist");
        Expect.FolderHolds(_dir.Path, "m.onnx");
    }

    [Fact]
    public void AnOutputThatCannotBeWrittenIsNamedNotItsTemporaryFile()
    {
        // Before: "I/O error: Could not find file '/proc/.x.onnx.tmp-1234-...'".
        var model = _dir.File("m.onnx");
        Protos.Write(Protos.Tiny(), model);
        var r = CliHarness.Run("convert", model, "-o", "/proc/x.onnx");
        Expect.Refused(r, "/proc/x.onnx", "writing failed", "nothing was written");
        Assert.DoesNotContain(".tmp-", r.Stderr);
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int mkfifo(string path, uint mode);

    [Fact]
    public void AZeroLengthTensorInAFifoDoesNotHang()
    {
        // Before: a [0] tensor whose external data is a FIFO in the model's folder (an archive can
        // carry one) passed every check, and convert blocked forever opening the FIFO to copy it.
        Assert.Equal(0, mkfifo(_dir.File("w.bin"), 0x1A4 /* 0644 */));
        var m = ModelProtos.ReadsInitializer(ModelProtos.External("w", [0], "w.bin", "0", "0"));
        m.Graph.Input[0] = Protos.Float("x", 0);
        m.Graph.Output[0] = Protos.Float("y", 0);
        var model = _dir.File("m.onnx");
        Protos.Write(m, model);
        foreach (var args in new[] { new[] { "convert", model, "-o", _dir.File("c.onnx") }, ["compile", model, "-o", _dir.File("n.onnx"), "--target", "native"] })
        {
            var r = CliHarness.Run(TimeSpan.FromSeconds(30), args);
            Assert.True(r.ExitCode == 0, r.ToString());
        }
        // With a length, the FIFO (0 bytes long) is refused at load, as any too-short file is.
        Protos.Write(ModelProtos.ReadsInitializer(ModelProtos.External("w", [4], "w.bin", "0", "16")), model);
        Expect.Refused(CliHarness.Run(TimeSpan.FromSeconds(30), "convert", model, "-o", _dir.File("d.onnx")), "m.onnx", "past the end");
    }

    [Fact]
    public void VerifyRefusesBrokenInputFilesWithOneLine()
    {
        // Before: random bytes as input_0.pb were "I/O error: Protocol message ..." (no file named), and
        // a tensor with data_type -1 and no data was an internal error (OverflowException).
        var model = _dir.File("m.onnx");
        Protos.Write(Protos.Tiny(), model);
        var inputs = _dir.File("inputs");
        Directory.CreateDirectory(inputs);
        var random = new byte[300];
        new Random(1).NextBytes(random);
        foreach (var (bytes, says) in new (byte[], string)[]
        {
            (random, "not a valid ONNX test data file"),
            ([0x08, 0x02, 0x08, 0x03, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F], "has no byte layout"),
        })
        {
            File.WriteAllBytes(Path.Combine(inputs, "input_0.pb"), bytes);
            var r = CliHarness.Run("verify", model, model, "--inputs", inputs);
            Assert.True(r.ExitCode == 2 && r.ErrorLines.Length == 1 && !r.Stderr.Contains("internal error"), r.ToString());
            Assert.Contains(says, r.ErrorLines[0]);
        }
    }

    [Fact]
    public void ASubgraphReturningAValueDownstreamOfItsNodeIsACycle()
    {
        // Found by the fuzzer: a FlexAttention modifier graph got an extra output naming an outer value
        // computed from the FlexAttention's result. No node read it, so the cycle check saw no
        // dependency, the model loaded, and compile wrote a model with a cycle it could not read back.
        var g = ModelProtos.WithCondition("main");
        var then = new GraphProto { Name = "then" };
        then.Output.Add(Protos.Float("late", 2, 3));
        g.Node.Add(ModelProtos.If("c", "i", then, ModelProtos.Branch("else", "x", "e")));
        g.Node.Add(Protos.Node("Relu", ["i"], ["late"]));
        g.Node.Add(Protos.Node("Identity", ["late"], ["y"]));
        var e = Assert.Throws<ModelFormatException>(() => Load(Protos.Wrap(g)));
        Assert.Equal("m.onnx: graph 'main' has a cycle: If -> i -> Relu -> late", e.Message);
    }

    [Fact]
    public void ASubgraphReturningAnEarlierOuterValueIsSortedAfterIt()
    {
        // The same dependency orders nodes: an If listed before the node whose value its branch
        // returns must be moved after it by compile's topological sort (the file order is free).
        var g = ModelProtos.WithCondition("main");
        var then = new GraphProto { Name = "then" };
        then.Output.Add(Protos.Float("early", 2, 3));
        g.Node.Add(ModelProtos.If("c", "y", then, ModelProtos.Branch("else", "x", "e")));
        g.Node.Add(Protos.Node("Relu", ["x"], ["early"]));
        var model = _dir.File("order.onnx");
        Protos.Write(Protos.Wrap(g), model);
        var r = CliHarness.Run("compile", model, "-o", _dir.File("out.onnx"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(["Relu", "If"], ModelSerializer.Load(_dir.File("out.onnx")).Graph.Nodes.Select(n => n.OpType));
    }
}
