using System.Security.Cryptography;
using Ternion.Robustness.Tests.Harness;
using Ternion.TestSupport;
using Xunit.Abstractions;

namespace Ternion.Robustness.Tests;

/// <summary>
/// Nothing lost: the input (model and external data) is never modified, whatever -o or --report
/// says, for convert and for compile; the refusal is one line and nothing is written.
/// </summary>
public class OutputSafetyTests(ITestOutputHelper log) : IDisposable
{
    private readonly TempDir _dir = new("outsafe");
    public void Dispose() => _dir.Dispose();

    private static string Sample => TruncationTests.SamplePath;

    /// <summary>
    /// The sample with its weights in external data, as in.onnx + w.data: "-o w" then makes
    /// OUT.data the input's data file, and "-o w.data" makes OUT the input's data file.
    /// </summary>
    private string ExternalSample()
    {
        var r = CliHarness.Run("convert", Sample, "-o", _dir.File("w"), "--external-data", "always");
        Assert.True(r.ExitCode == 0, r.ToString());
        File.Move(_dir.File("w"), _dir.File("in.onnx"));
        Expect.FolderHolds(_dir.Path, "in.onnx", "w.data");
        return _dir.File("in.onnx");
    }

    /// <summary>
    /// y = x @ W with W a ternary float [640, 64] stored in t.data: compile packs it, so the
    /// compiled model holds no tensor of t.data any more, while writing it still reads t.data.
    /// </summary>
    private string AllWeightsTernaryAndExternal()
    {
        var rng = new Random(5);
        var w = Enumerable.Range(0, 640 * 64).Select(_ => (rng.Next(3) - 1) * 0.25f).ToArray();
        var bytes = new byte[w.Length * 4];
        Buffer.BlockCopy(w, 0, bytes, 0, bytes.Length);
        File.WriteAllBytes(_dir.File("t.data"), bytes);
        var m = Protos.Tiny();
        m.Graph.Node.Clear();
        m.Graph.Input[0] = Protos.Float("x", 2, 640);
        m.Graph.Output[0] = Protos.Float("y", 2, 64);
        m.Graph.Initializer.Add(ModelProtos.External("w", [640, 64], "t.data", "0", bytes.Length.ToString()));
        m.Graph.Node.Add(Protos.Node("MatMul", ["x", "w"], ["y"]));
        Protos.Write(m, _dir.File("tern.onnx"));
        return _dir.File("tern.onnx");
    }

    private void AssertRefusedAndInputUntouched(string namedFile, string[] args, params string[] fragments)
    {
        var before = MalformedCorpusTests.Fingerprint(_dir.Path);
        var names = Directory.EnumerateFileSystemEntries(_dir.Path).Select(p => Path.GetFileName(p)).ToArray();
        var r = CliHarness.Run(args);
        log.WriteLine(r.ToString());
        Expect.Refused(r, Path.GetFileName(namedFile), fragments);
        Assert.Equal(before, MalformedCorpusTests.Fingerprint(_dir.Path));
        Expect.FolderHolds(_dir.Path, names);
    }

    public static TheoryData<string> Commands => new() { "convert", "compile fallback", "compile native", "compile folded", "compile ort-nbits" };

    private static string[] Args(string command, string input, string output) => command == "convert"
        ? ["convert", input, "-o", output]
        : ["compile", input, "-o", output, "--target", command.Split(' ')[1]];

    [Theory]
    [MemberData(nameof(Commands))]
    public void OutputNamingTheInputModelIsRefused(string command)
    {
        var input = ExternalSample();
        AssertRefusedAndInputUntouched(input, Args(command, input, input), "refusing to overwrite 'in.onnx'");
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void OutputNamingTheInputModelAnotherWayIsRefused(string command)
    {
        var input = ExternalSample();
        Directory.CreateDirectory(_dir.File("sub"));
        File.CreateSymbolicLink(_dir.File("link.onnx"), input);
        AssertRefusedAndInputUntouched(input, Args(command, input, _dir.File("sub/../in.onnx")), "refusing to overwrite 'in.onnx'");
        AssertRefusedAndInputUntouched("link.onnx", Args(command, input, _dir.File("link.onnx")), "refusing to overwrite 'link.onnx'");
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void OutputWhoseDataFileIsTheInputsDataFileIsRefused(string command)
    {
        // -o w writes w.data: the file the input's weights are in. compile packs the weights, so the
        // model no longer holds a tensor in w.data, but the packing still reads it while writing.
        var input = ExternalSample();
        AssertRefusedAndInputUntouched("w.data", Args(command, input, _dir.File("w")), "refusing to overwrite 'w.data'");
        var tern = AllWeightsTernaryAndExternal();
        AssertRefusedAndInputUntouched("t.data", Args(command, tern, _dir.File("t")), "refusing to overwrite 't.data'");
    }

    [Theory]
    [MemberData(nameof(Commands))]
    public void OutputNamingTheInputsDataFileIsRefused(string command)
    {
        var input = ExternalSample();
        AssertRefusedAndInputUntouched("w.data", Args(command, input, _dir.File("w.data")), "refusing to overwrite 'w.data'");
        var tern = AllWeightsTernaryAndExternal();
        AssertRefusedAndInputUntouched("t.data", Args(command, tern, _dir.File("t.data")), "refusing to overwrite 't.data'");
    }

    [Fact]
    public void ReportNamingAnInputOrTheOutputIsRefused()
    {
        var input = ExternalSample();
        var output = _dir.File("out.onnx");
        foreach (var report in new[] { input, _dir.File("w.data"), output, output + ".data" })
        {
            var args = new[] { "compile", input, "-o", output, "--target", "native", "--report", report };
            AssertRefusedAndInputUntouched(report, args, "report", "choose another report path");
        }
    }

    private string InputHashes() => string.Join(",", new[] { "in.onnx", "w.data" }.Select(f => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(_dir.File(f))))));

    [Fact]
    public void DumpingTheIrIntoTheInputsFolderLeavesTheInputAlone()
    {
        var input = ExternalSample();
        var before = InputHashes();
        var r = CliHarness.Run("compile", input, "-o", _dir.File("out.onnx"), "--dump-ir", _dir.Path);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(before, InputHashes());
    }

    [Fact]
    public void ASuccessfulRunLeavesOnlyItsOutputsAndTheInputAsItWas()
    {
        var input = ExternalSample();
        var before = InputHashes();
        var r = CliHarness.Run("compile", input, "-o", _dir.File("out.onnx"), "--target", "native", "--report", _dir.File("report.json"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Expect.FolderHolds(_dir.Path, "in.onnx", "w.data", "out.onnx", "out.onnx.data", "report.json");
        Assert.Equal(before, InputHashes());
    }
}
