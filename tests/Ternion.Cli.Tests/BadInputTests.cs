using Google.Protobuf;
using Ternion.IR.Onnx;
using Ternion.TestSupport;

namespace Ternion.Cli.Tests;

/// <summary>
/// Bad input gets exit code 2, one line on stderr naming the file and the problem, no stack trace,
/// and no output file.
/// </summary>
public class BadInputTests : IDisposable
{
    private readonly TempDir _dir = new("badinput");
    public void Dispose() => _dir.Dispose();

    private void AssertRefused(string model, params string[] expectedFragments)
    {
        var outPath = _dir.File("out.onnx");
        foreach (var args in new[] { new[] { "inspect", model }, new[] { "convert", model, "-o", outPath } })
        {
            var r = CliRunner.Run(args);
            Assert.Equal(2, r.ExitCode);
            Assert.Single(r.ErrorLines);
            var line = r.ErrorLines[0];
            Assert.StartsWith("ternion: error: ", line);
            Assert.Contains(Path.GetFileName(model), line);
            foreach (var f in expectedFragments) Assert.Contains(f, line);
            Assert.DoesNotContain("   at ", r.Stderr);
            Assert.False(File.Exists(outPath), "no output file may be written for a refused model");
            Assert.Empty(Directory.GetFiles(_dir.Path, ".*tmp*"));
        }
    }

    private string Save(ModelProto m, string name = "bad.onnx")
    {
        var p = _dir.File(name);
        Protos.Write(m, p);
        return p;
    }

    [Fact]
    public void EmptyFile()
    {
        var p = _dir.File("empty.onnx");
        File.WriteAllBytes(p, []);
        AssertRefused(p, "empty");
    }

    [Fact]
    public void MissingFile() => AssertRefused(_dir.File("nothere.onnx"), "not found");

    [Fact]
    public void RandomBytes()
    {
        var rng = new Random(42);
        var bytes = new byte[4096];
        rng.NextBytes(bytes);
        var p = _dir.File("random.onnx");
        File.WriteAllBytes(p, bytes);
        AssertRefused(p, "not");
    }

    [SharedDataFact("models/silero-vad-v5/model.onnx")]
    public void TruncatedModel()
    {
        var full = Path.Combine(Paths.Shared, "models", "silero-vad-v5", "model.onnx");
        var bytes = File.ReadAllBytes(full);
        var p = _dir.File("truncated.onnx");
        File.WriteAllBytes(p, bytes[..(bytes.Length / 2)]);
        AssertRefused(p);
    }

    [Fact]
    public void UndefinedValueName()
    {
        var m = Protos.Tiny();
        m.Graph.Node[0].Input[0] = "nobody";
        AssertRefused(Save(m), "'nobody'", "not defined");
    }

    [Fact]
    public void Cycle()
    {
        var m = Protos.Tiny();
        m.Graph.Node.Clear();
        m.Graph.Node.Add(Protos.Node("Add", ["x", "b"], ["a"]));
        m.Graph.Node.Add(Protos.Node("Relu", ["a"], ["b"]));
        m.Graph.Node.Add(Protos.Node("Identity", ["a"], ["y"]));
        AssertRefused(Save(m), "cycle");
    }

    [Fact]
    public void MissingOpsetImport()
    {
        var m = Protos.Tiny();
        m.Graph.Node[0].Domain = "com.example";
        AssertRefused(Save(m), "com.example", "opset_import");
    }

    [Fact]
    public void TensorDataShorterThanDims()
    {
        var m = Protos.Tiny();
        m.Graph.Initializer.Add(Protos.FloatTensor("w", [4, 4], new float[10]));
        AssertRefused(Save(m), "'w'", "shorter");
    }

    [Fact]
    public void TensorDataLongerThanDims()
    {
        var m = Protos.Tiny();
        m.Graph.Initializer.Add(Protos.FloatTensor("w", [2], new float[3]));
        AssertRefused(Save(m), "'w'", "longer");
    }

    [Fact]
    public void DeclaredSizeOverflows()
    {
        var m = Protos.Tiny();
        var t = Protos.FloatTensor("huge", [long.MaxValue / 2, 4], new float[1]);
        m.Graph.Initializer.Add(t);
        AssertRefused(Save(m), "'huge'", "overflow");
    }

    [Fact]
    public void DeclaredSizeOfTerabytes()
    {
        var m = Protos.Tiny();
        m.Graph.Initializer.Add(Protos.FloatTensor("tera", [1L << 20, 1L << 20], new float[1]));
        AssertRefused(Save(m), "'tera'");
    }

    [Fact]
    public void NegativeDim()
    {
        var m = Protos.Tiny();
        m.Graph.Initializer.Add(Protos.FloatTensor("neg", [-3], new float[3]));
        AssertRefused(Save(m), "'neg'", "negative");
    }

    private static TensorProto External(string name, long[] dims, string location, long offset, long length)
    {
        var t = new TensorProto { Name = name, DataType = 1, DataLocation = TensorProto.Types.DataLocation.External };
        t.Dims.AddRange(dims);
        t.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = location });
        t.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset.ToString() });
        t.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = length.ToString() });
        return t;
    }

    [Fact]
    public void ExternalDataPastEndOfFile()
    {
        File.WriteAllBytes(_dir.File("w.bin"), new byte[100]);
        var m = Protos.Tiny();
        m.Graph.Initializer.Add(External("w", [64], "w.bin", 0, 256));
        AssertRefused(Save(m), "'w'", "past the end");
    }

    [Fact]
    public void ExternalDataAbsolutePath()
    {
        var m = Protos.Tiny();
        m.Graph.Initializer.Add(External("w", [4], "/etc/passwd", 0, 16));
        AssertRefused(Save(m), "'w'", "absolute");
    }

    [Fact]
    public void ExternalDataDotDot()
    {
        var m = Protos.Tiny();
        m.Graph.Initializer.Add(External("w", [4], "../secret.bin", 0, 16));
        AssertRefused(Save(m), "'w'", "..");
    }

    [Fact]
    public void ExternalDataThroughSymlinkOutOfFolder()
    {
        using var outside = new TempDir("outside");
        File.WriteAllBytes(outside.File("secret.bin"), new byte[16]);
        File.CreateSymbolicLink(_dir.File("link.bin"), outside.File("secret.bin"));
        var m = Protos.Tiny();
        m.Graph.Initializer.Add(External("w", [4], "link.bin", 0, 16));
        AssertRefused(Save(m), "'w'", "outside the model's folder");
    }

    [Fact]
    public void ExternalDataOfALinkedModelThroughSymlinkOutOfBothFolders()
    {
        // The hub cache's layout (model and data are links into blobs/) is accepted; a data link that
        // leaves both the snapshot folder and blobs/ is not.
        using var outside = new TempDir("outside");
        File.WriteAllBytes(outside.File("secret.bin"), new byte[16]);
        Directory.CreateDirectory(_dir.File("blobs"));
        Directory.CreateDirectory(_dir.File("snapshot"));
        var m = Protos.Tiny();
        m.Graph.Initializer.Add(External("w", [4], "w.bin", 0, 16));
        Protos.Write(m, _dir.File("blobs/model"));
        File.CreateSymbolicLink(_dir.File("snapshot/model.onnx"), "../blobs/model");
        File.CreateSymbolicLink(_dir.File("snapshot/w.bin"), outside.File("secret.bin"));
        AssertRefused(_dir.File("snapshot/model.onnx"), "'w'", "outside the model's folder and outside the folder its file links to");
    }

    [Fact]
    public void NestingDeeperThanLimit()
    {
        // If nodes nested 101 deep, each branch holding the next.
        GraphProto Level(int depth)
        {
            var g = new GraphProto { Name = $"g{depth}" };
            g.Output.Add(Protos.Float($"o{depth}", 1));
            if (depth == 0)
            {
                g.Node.Add(Protos.Node("Identity", ["x"], [$"o{depth}"]));
                return g;
            }
            var n = Protos.Node("If", ["c"], [$"o{depth}"]);
            n.Attribute.Add(new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = Level(depth - 1) });
            n.Attribute.Add(new AttributeProto { Name = "else_branch", Type = AttributeProto.Types.AttributeType.Graph, G = Level(depth - 1 > 0 ? 0 : 0) });
            g.Node.Add(n);
            return g;
        }
        var main = Level(101);
        main.Input.Add(Protos.Float("x", 1));
        main.Input.Add(new ValueInfoProto { Name = "c", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 9, Shape = new TensorShapeProto() } } });
        AssertRefused(Save(Protos.Wrap(main)), "nested deeper than 100");
    }

    [Fact]
    public void ValidModelIsAccepted()
    {
        // The same checks pass a good model: guards against a refusal that fires on everything.
        var p = Save(Protos.Tiny(), "good.onnx");
        var r = CliRunner.Run("convert", p, "-o", _dir.File("out.onnx"));
        Assert.Equal(0, r.ExitCode);
        Assert.True(File.Exists(_dir.File("out.onnx")));
    }
}
