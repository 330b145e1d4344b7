using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Ternion.IR.Serialization;
using Ternion.Robustness.Tests.Harness;
using Ternion.TestSupport;
using Xunit.Abstractions;

namespace Ternion.Robustness.Tests;

/// <summary>
/// Mutates the conformance models and the sample (inline and with external data) and runs
/// inspect, convert and compile on each mutant. Whatever the damage: exit code 0 or 2, never
/// "internal error" (an exception type the CLI does not expect), one stderr line on failure, no
/// hang, the input untouched, nothing left but the outputs of successful runs, and every output
/// loads again.
///
/// The default run takes 30 seconds with a fixed seed. Longer or other runs (see docs/security.md):
///   TERNION_FUZZ_SECONDS=3600 TERNION_FUZZ_SEED=7 dotnet test tests/Ternion.Robustness.Tests --filter FullyQualifiedName~FuzzTests
/// Case N of a seed is the same on every machine whatever the time budget: TERNION_FUZZ_CASE=N runs
/// that case alone. Failing inputs are kept in TERNION_FUZZ_KEEP (default: a folder under /tmp, named in the failure).
/// </summary>
public class FuzzTests(ITestOutputHelper log)
{
    private const int DefaultSeed = 20261125;
    private static readonly TimeSpan PerRun = TimeSpan.FromSeconds(30);

    private static int EnvInt(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : fallback;

    private sealed record Seed(string Name, byte[] Bytes, IReadOnlyList<WireField>? Tree, string? DataFile)
    {
        public byte[] DataHash { get; } = DataFile is null ? [] : SHA256.HashData(File.ReadAllBytes(DataFile));
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int link(string oldpath, string newpath);

    private static readonly string[] Targets = ["fallback", "native", "folded", "ort-nbits"];

    [SharedDataFact("conformance")]
    public void MutatedModelsNeverCrashHangOrLeaveFiles()
    {
        int seed = EnvInt("TERNION_FUZZ_SEED", DefaultSeed);
        var budget = TimeSpan.FromSeconds(EnvInt("TERNION_FUZZ_SECONDS", 30));
        int only = EnvInt("TERNION_FUZZ_CASE", -1);
        var keep = Environment.GetEnvironmentVariable("TERNION_FUZZ_KEEP") is { Length: > 0 } k ? k : Path.Combine(Path.GetTempPath(), "ternion-fuzz-failures");

        using var work = new TempDir("fuzz");
        var conformance = Directory.EnumerateFiles(Paths.Conformance, "*.onnx", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
        Assert.True(conformance.Count > 1000, $"only {conformance.Count} conformance models under {Paths.Conformance}");
        var sample = Load(TruncationTests.SamplePath, null);
        var external = ExternalSample(work);
        // Seeds that hold what compile's passes work on: existing TernaryDecode nodes and their
        // function body (the sample compiled for fallback), packed weights in external data
        // (compiled for native), and an int8 DequantizeLinear weight.
        var compiled = new[] { CompiledSample(work, "fallback"), CompiledSample(work, "native"), Built(work, "int8-dequantize", Int8Model()), Built(work, "ternary-decode", ModelProtos.TernaryDecodeModel()) };
        var cache = new Dictionary<string, Seed>();

        var clock = Stopwatch.StartNew();
        var failures = new List<string>();
        int cases = 0, runs = 0, refused = 0;
        for (int index = only >= 0 ? only : 0; ; index++)
        {
            if (only >= 0 ? index > only : clock.Elapsed >= budget || failures.Count >= 5) break;
            // Each case draws from its own generator: case N does not depend on how many ran before.
            var rng = new Random(HashCode.Combine(seed, index));
            int pick = rng.Next(100);
            var s = pick < 15 ? sample : pick < 22 ? external : pick < 40 ? compiled[rng.Next(compiled.Length)] : Cached(cache, conformance[rng.Next(conformance.Count)]);
            var mutator = new Mutator(rng);
            var mutant = mutator.Mutate(s.Bytes, s.Tree);
            string target = Targets[rng.Next(Targets.Length)];
            string what = $"case {index} (seed {seed}): {s.Name}, {mutator.Describe}";

            var dir = Path.Combine(work.Path, $"case{index}");
            Directory.CreateDirectory(dir);
            var input = Path.Combine(dir, "model.onnx");
            File.WriteAllBytes(input, mutant);
            // A hard link, not a symbolic one: a link out of the model's folder is (rightly) refused.
            if (s.DataFile is { } data && link(data, Path.Combine(dir, Path.GetFileName(data))) != 0)
                throw new IOException($"cannot hard-link {data}: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
            string? problem = null;
            try
            {
                problem = RunCase(dir, input, target, ref runs, ref refused);
            }
            catch (Xunit.Sdk.XunitException e) { problem = e.Message; }
            if (problem is not null)
            {
                Directory.CreateDirectory(keep);
                var kept = Path.Combine(keep, $"seed{seed}-case{index}.onnx");
                File.WriteAllBytes(kept, mutant);
                failures.Add($"{what}: {problem} (input kept as {kept})");
                if (problem.Contains("hang")) break; // a hung run holds the CLI gate: nothing after it can run
            }
            Directory.Delete(dir, recursive: true);
            cases++;
        }
        clock.Stop();
        // The data files are shared by every case of their seed (hard links): they must be as they were.
        foreach (var e in compiled.Append(external).Where(e => e.DataFile is not null))
            if (!e.DataHash.AsSpan().SequenceEqual(SHA256.HashData(File.ReadAllBytes(e.DataFile!))))
                failures.Add($"the external data file of {e.Name} was modified");
        log.WriteLine($"fuzz: seed {seed}, {cases} cases ({runs} runs, {refused} refusals) in {clock.Elapsed.TotalSeconds:F1} s: {cases / clock.Elapsed.TotalSeconds:F1} cases/s");
        foreach (var f in failures) log.WriteLine(f);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        if (only < 0) Assert.True(cases >= 100, $"only {cases} cases in {budget}: the fuzzer is too slow to mean much");
    }

    /// <summary>Runs inspect, convert and compile on one mutant; returns what went wrong, or null.</summary>
    private static string? RunCase(string dir, string input, string target, ref int runs, ref int refused)
    {
        var inputs = Directory.EnumerateFileSystemEntries(dir).Select(p => Path.GetFileName(p)).ToHashSet();
        var before = SHA256.HashData(File.ReadAllBytes(input));
        var convertOut = Path.Combine(dir, "out.onnx");
        var compileOut = Path.Combine(dir, "compiled.onnx");
        var expected = new HashSet<string>(inputs);
        foreach (var args in new[]
        {
            new[] { "inspect", input },
            ["convert", input, "-o", convertOut],
            ["compile", input, "-o", compileOut, "--target", target],
        })
        {
            var r = CliHarness.Run(PerRun, args);
            runs++;
            if (r.ExitCode is not (0 or 2)) return $"exit code {r.ExitCode}: {r}";
            if (r.Stderr.Contains("internal error") || r.Stderr.Contains("   at ")) return $"unexpected exception: {r}";
            if (r.ExitCode == 2)
            {
                refused++;
                // Progress lines ("ternion: info: ...") may precede the error when a phase took a second or more.
                var lines = r.ErrorLines.Where(l => !l.StartsWith("ternion: info: ", StringComparison.Ordinal)).ToList();
                if (lines.Count != 1 || !lines[0].StartsWith("ternion: error: ", StringComparison.Ordinal)) return $"not one error line: {r}";
                continue;
            }
            if (r.ErrorLines.Any(l => !l.StartsWith("ternion: info: ", StringComparison.Ordinal))) return $"success with stderr: {r}";
            // Whatever ternion writes, it must be able to read back.
            var written = args[0] == "convert" ? convertOut : args[0] == "compile" ? compileOut : null;
            if (written is null) continue;
            expected.Add(Path.GetFileName(written));
            if (File.Exists(written + ".data")) expected.Add(Path.GetFileName(written) + ".data");
            Ternion.IR.Model reread;
            try { reread = ModelSerializer.Load(written); }
            catch (Ternion.IR.TernionException e) { return $"wrote a model it cannot read ({e.Message}): {r}"; }
            // And read back, it saves to the same bytes (a convert of a convert changes nothing).
            if (args[0] == "convert" && !File.Exists(written + ".data") && !ModelSerializer.ToBytes(reread).AsSpan().SequenceEqual(File.ReadAllBytes(written)))
                return $"converting the output again changes it: {r}";
        }
        if (!before.AsSpan().SequenceEqual(SHA256.HashData(File.ReadAllBytes(input)))) return "the input was modified";
        var present = Directory.EnumerateFileSystemEntries(dir).Select(p => Path.GetFileName(p)).ToHashSet();
        if (!present.SetEquals(expected)) return $"folder holds [{string.Join(", ", present.Order())}], expected [{string.Join(", ", expected.Order())}]";
        return null;
    }

    private static Seed Cached(Dictionary<string, Seed> cache, string path)
    {
        if (!cache.TryGetValue(path, out var s)) cache[path] = s = Load(path, null);
        return s;
    }

    private static Seed Load(string path, string? dataFile)
    {
        var bytes = File.ReadAllBytes(path);
        var name = Path.GetRelativePath(Paths.RepoRoot is var r && path.StartsWith(Paths.Shared, StringComparison.Ordinal) ? Paths.Shared : r, path);
        return new Seed(name, bytes, Wire.Parse(bytes, 0, bytes.Length), dataFile);
    }

    private static Seed CompiledSample(TempDir work, string target)
    {
        var folder = Path.Combine(work.Path, $"{target}-seed");
        Directory.CreateDirectory(folder);
        var model = Path.Combine(folder, "model.onnx");
        var r = CliHarness.Run("compile", TruncationTests.SamplePath, "-o", model, "--target", target);
        Assert.True(r.ExitCode == 0, r.ToString());
        return Load(model, File.Exists(model + ".data") ? model + ".data" : null) with { Name = $"bitnet-tiny compiled for {target}" };
    }

    private static Seed Built(TempDir work, string name, Ternion.IR.Onnx.ModelProto m)
    {
        var path = Path.Combine(work.Path, $"{name}.onnx");
        Protos.Write(m, path);
        return Load(path, null) with { Name = name };
    }

    /// <summary>y = x @ DequantizeLinear(q, s): an int8 weight of trits with a per-tensor scale.</summary>
    private static Ternion.IR.Onnx.ModelProto Int8Model()
    {
        var g = new Ternion.IR.Onnx.GraphProto { Name = "int8" };
        g.Input.Add(Protos.Float("x", 2, 64));
        g.Output.Add(Protos.Float("y", 2, 32));
        var q = new Ternion.IR.Onnx.TensorProto { Name = "q", DataType = 3, RawData = Google.Protobuf.ByteString.CopyFrom(Enumerable.Range(0, 2048).Select(i => (byte)(i % 3 == 0 ? 0xFF : i % 3)).ToArray()) };
        q.Dims.AddRange([64, 32]);
        g.Initializer.Add(q);
        g.Initializer.Add(Protos.FloatTensor("s", [], [0.25f]));
        g.Node.Add(Protos.Node("DequantizeLinear", ["q", "s"], ["w"]));
        g.Node.Add(Protos.Node("MatMul", ["x", "w"], ["y"]));
        return Protos.Wrap(g, 21);
    }

    /// <summary>
    /// The sample with its weights in model.onnx.data, so mutations reach external-data keys
    /// (location, offset, length). Each case hard-links the data file into its folder; the file is
    /// hashed before and after the run.
    /// </summary>
    private static Seed ExternalSample(TempDir work)
    {
        var folder = Path.Combine(work.Path, "external-seed");
        Directory.CreateDirectory(folder);
        var model = Path.Combine(folder, "model.onnx");
        var r = CliHarness.Run("convert", TruncationTests.SamplePath, "-o", model, "--external-data", "always");
        Assert.True(r.ExitCode == 0, r.ToString());
        var s = Load(model, model + ".data");
        return s with { Name = "bitnet-tiny with external data" };
    }
}
