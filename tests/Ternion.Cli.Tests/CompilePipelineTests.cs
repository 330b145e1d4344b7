using System.Text.RegularExpressions;
using Ternion.IR;
using Ternion.IR.Serialization;
using Ternion.Ternary.Tests;
using Ternion.TestSupport;

namespace Ternion.Cli.Tests;

/// <summary>What `ternion compile` shows about its pass pipeline: per-pass time and changes with -v, and --dump-ir.</summary>
public class CompilePipelineTests : IDisposable
{
    private readonly TempDir _dir = new("pipeline");
    public void Dispose() => _dir.Dispose();

    private string Model()
    {
        var path = _dir.File("model.onnx");
        ModelSerializer.Save(WeightModels.MatMulGemmModel(700, 48, DataType.Float, ScaleKind.PerChannel), path);
        return path;
    }

    [Fact]
    public void VerboseLogsEveryPassWithItsChangesAndTime()
    {
        var r = CliRunner.Run("compile", Model(), "-o", _dir.File("out.onnx"), "--target", "ort-nbits", "-v");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var passes = r.ErrorLines.Select(l => Regex.Match(l, @"^ternion: debug: pass (\d\d) (\w+): (\d+) change\(s\), model (changed|unchanged), \d+\.\d ms$"))
            .Where(m => m.Success).Select(m => $"{m.Groups[1]} {m.Groups[2]} {m.Groups[3]} {m.Groups[4]}").ToList();
        Assert.Equal([
            "01 SortTopologically 0 unchanged",
            "02 LowerFlexAttention 0 unchanged",
            "03 DetectTernaryWeights 2 unchanged",
            "04 PackTernaryWeights 2 changed",
            "05 TranscodeToMatMulNBits 1 changed",
            "06 AddTernaryDecodeFunction 1 changed"], passes);

        var quiet = CliRunner.Run("compile", Model(), "-o", _dir.File("quiet.onnx"), "--target", "ort-nbits");
        Assert.Equal(0, quiet.ExitCode);
        Assert.DoesNotContain("debug:", quiet.Stderr);
    }

    [Fact]
    public void DumpIrWritesALoadableModelAfterEachPassInNumberedFolders()
    {
        var dump = Path.Combine(_dir.Path, "dump");
        var r = CliRunner.Run("compile", Model(), "-o", _dir.File("out.onnx"), "--target", "native", "--dump-ir", dump, "--check");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var listing = Directory.GetFileSystemEntries(dump, "*", SearchOption.AllDirectories)
            .Select(p => Path.GetRelativePath(dump, p)).Order(StringComparer.Ordinal).ToList();
        Assert.Equal([
            "01-SortTopologically", "01-SortTopologically/model.onnx",
            "02-LowerFlexAttention", "02-LowerFlexAttention/model.onnx",
            "03-DetectTernaryWeights", "03-DetectTernaryWeights/model.onnx",
            "04-PackTernaryWeights", "04-PackTernaryWeights/model.onnx",
            "05-AddTernaryDecodeFunction", "05-AddTernaryDecodeFunction/model.onnx"], listing);
        var models = listing.Where(p => p.EndsWith(".onnx", StringComparison.Ordinal)).Select(p => ModelSerializer.Load(Path.Combine(dump, p))).ToList();
        Assert.Equal([0, 0, 0, 2, 2], models.Select(m => m.AllNodes().Count(n => n.OpType == "TernaryDecode")));
        Assert.Equal([0, 0, 0, 0, 1], models.Select(m => m.Functions.Count));
    }

    /// <summary>
    /// The user's path for ONNX Runtime with Ternion's ops: `targets` says what a session needs,
    /// `compile --target ort-ttf1` fuses the products, and `verify` loads the ops by itself.
    /// </summary>
    [Fact]
    public void OrtTtf1CompilesAndVerifiesWithTheCustomOpsLoadedByVerify()
    {
        var targets = CliRunner.Run("targets");
        Assert.Equal(0, targets.ExitCode);
        Assert.Contains("a session needs: Ternion's com.ternion ops", targets.Stdout);
        var model = Model();
        var r = CliRunner.Run("compile", model, "-o", _dir.File("ttf1.onnx"), "--target", "ort-ttf1", "-v", "--check");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains(r.ErrorLines, l => l.Contains("rule TernaryMatMul fired 2 time(s)"));
        var compiled = ModelSerializer.Load(_dir.File("ttf1.onnx"));
        Assert.Equal(3, compiled.AllNodes().Count(n => n.DomainName == "com.ternion" && n.OpType == "TernaryMatMul"));
        var v = CliRunner.Run("verify", model, _dir.File("ttf1.onnx"), "--rtol", "1e-5", "--atol", "1e-6");
        Assert.True(v.ExitCode == 0, v.Stdout + v.Stderr);
    }
}
