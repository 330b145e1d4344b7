using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Ternion.Backends;
using Ternion.Backends.Verification;
using Ternion.IR;
using Ternion.ModelGen;

// One decoder layer of the BitNet-2B shape on ONNX Runtime (CPU), per Ternion target:
// session creation, one-token latency (the memory-bound GEMV decode step), a 128-token prefill,
// and peak memory. Each configuration runs in its own process so peak RSS is its own.
//
//   dotnet run -c Release --project bench/Ternion.InferenceBench -- [WORKDIR] [--runs N]
if (args.Length > 0 && args[0] == "--child") return Child.Run(args[1..]);

string work = args.Length > 0 && !args[0].StartsWith('-') ? args[0] : Path.Combine(Path.GetTempPath(), "ternion-infer");
int runs = args.SkipWhile(a => a != "--runs").Skip(1).Select(int.Parse).FirstOrDefault(30);
Directory.CreateDirectory(work);
var layer = Path.Combine(work, "layer.onnx");
SyntheticDecoder.Write(new DecoderShape { Layers = 1, Embedding = false }, layer);
var compiled = new Dictionary<string, string>();
foreach (var target in new[] { "folded", "fallback", "ort-nbits", "ort-nbits-int8" })
{
    var outPath = Path.Combine(work, $"layer-{target}.onnx");
    TernionCompiler.Compile(new CompileRequest { InputPath = layer, OutputPath = outPath, Target = target });
    compiled[target] = outPath;
}
var configs = new (string Name, string Target, bool Fold)[]
{
    ("dense float32 (`folded`)", "folded", true),
    ("`fallback`, ConstantFolding on", "fallback", true),
    ("`fallback`, ConstantFolding off", "fallback", false),
    ("`ort-nbits` (MatMulNBits, 2-bit)", "ort-nbits", true),
    ("`ort-nbits-int8` (MatMulNBits, int8 activations)", "ort-nbits-int8", true),
};
Console.WriteLine($"Machine: {Machine()}; ONNX Runtime {Microsoft.ML.OnnxRuntime.OrtEnv.Instance().GetVersionString()} CPU, default threads; {runs} runs per median; {DateTime.UtcNow:yyyy-MM-dd}");
Console.WriteLine();
Console.WriteLine("| configuration | weight bytes on disk | session creation | 1 token | vs dense | 128-token prefill | vs dense | peak RSS |");
Console.WriteLine("|---|---|---|---|---|---|---|---|");
Result? dense = null;
foreach (var c in configs)
{
    var r = RunChild(compiled[c.Target], c.Fold, runs);
    dense ??= r;
    long bytes = new FileInfo(compiled[c.Target]).Length + (File.Exists(compiled[c.Target] + ".data") ? new FileInfo(compiled[c.Target] + ".data").Length : 0);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"| {c.Name} | {bytes / 1e6:F1} MB | {r.SessionMs:F0} ms | {r.DecodeMs:F2} ms | {r.DecodeMs / dense.DecodeMs:F2}x | {r.PrefillMs:F1} ms | {r.PrefillMs / dense.PrefillMs:F2}x | {r.PeakRssMb:F0} MB |"));
}
return 0;

static Result RunChild(string model, bool fold, int runs)
{
    var psi = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true };
    foreach (var a in new[] { "--child", model, fold ? "fold" : "nofold", runs.ToString(CultureInfo.InvariantCulture) }) psi.ArgumentList.Add(a);
    if (Environment.ProcessPath!.EndsWith("dotnet", StringComparison.Ordinal)) psi.ArgumentList.Insert(0, typeof(Result).Assembly.Location);
    using var p = Process.Start(psi)!;
    string line = p.StandardOutput.ReadToEnd().Trim().Split('\n').Last();
    p.WaitForExit();
    if (p.ExitCode != 0) throw new InvalidOperationException($"child failed for {model}: {line}");
    return JsonSerializer.Deserialize<Result>(line)!;
}

static string Machine()
{
    string cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':')[1].Trim() ?? "?";
    return $"{cpu}, {Environment.ProcessorCount} cores";
}

public sealed record Result(double SessionMs, double DecodeMs, double PrefillMs, double PeakRssMb);

public static class Child
{
    public static int Run(string[] a)
    {
        string model = a[0];
        bool fold = a[1] == "fold";
        int runs = int.Parse(a[2], CultureInfo.InvariantCulture);
        var options = new OrtRunOptions { DisabledOptimizers = fold ? [] : ["ConstantFolding"] };
        var sessionTimes = new List<double>();
        InferenceSession? session = null;
        for (int i = 0; i < 3; i++)
        {
            session?.Dispose();
            using var so = OrtRunner.MakeSessionOptions(options);
            var sw = Stopwatch.StartNew();
            session = new InferenceSession(model, so);
            sessionTimes.Add(sw.Elapsed.TotalMilliseconds);
        }
        double Time(int seq, int n)
        {
            var rng = new Random(1);
            var x = RunValue.FromArray(DataType.Float, [1, seq, 2560], Enumerable.Range(0, seq * 2560).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray());
            var inputs = new Dictionary<string, RunValue> { ["hidden_states"] = x };
            OrtRunner.Run(session!, inputs); // warm-up
            var t = new List<double>();
            for (int i = 0; i < n; i++)
            {
                var sw = Stopwatch.StartNew();
                OrtRunner.Run(session!, inputs);
                t.Add(sw.Elapsed.TotalMilliseconds);
            }
            return Median(t);
        }
        double decode = Time(1, runs);
        double prefill = Time(128, Math.Max(3, runs / 5));
        session!.Dispose();
        double hwm = File.ReadLines("/proc/self/status").Where(l => l.StartsWith("VmHWM:", StringComparison.Ordinal))
            .Select(l => double.Parse(l.Split(':')[1].Trim().Split(' ')[0], CultureInfo.InvariantCulture) / 1024).First();
        Console.WriteLine(JsonSerializer.Serialize(new Result(Median(sessionTimes), decode, prefill, hwm)));
        return 0;
    }

    private static double Median(List<double> v)
    {
        v.Sort();
        return v.Count % 2 == 1 ? v[v.Count / 2] : (v[v.Count / 2 - 1] + v[v.Count / 2]) / 2;
    }
}
