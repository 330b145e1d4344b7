using System.CommandLine;
using System.Globalization;
using Microsoft.ML.OnnxRuntime;
using Ternion.Backends.Verification;
using Ternion.IR;

namespace Ternion.Compiler.Commands;

/// <summary>`ternion verify REFERENCE CANDIDATE`: run both on ONNX Runtime with the same inputs and compare.</summary>
public static class VerifyCommand
{
    public static Command Create(CliContext ctx)
    {
        var reference = new Argument<string>("REFERENCE") { Description = "The original model" };
        var candidate = new Argument<string>("CANDIDATE") { Description = "The model to check against it (e.g. a compiled one)" };
        var inputs = new Option<string?>("--inputs") { Description = "Folder with input_N.pb files; default: inputs generated from the declared types" };
        var rtol = new Option<double>("--rtol") { Description = "Relative tolerance", DefaultValueFactory = _ => 1e-5 };
        var atol = new Option<double>("--atol") { Description = "Absolute tolerance", DefaultValueFactory = _ => 1e-6 };
        var seed = new Option<int>("--seed") { Description = "Seed for generated inputs", DefaultValueFactory = _ => 0 };
        var dims = new Option<string[]>("--dim") { Description = "Size of a symbolic dimension, NAME=VALUE (repeatable); others are 1", AllowMultipleArgumentsPerToken = false };
        var shapes = new Option<string[]>("--shape") { Description = "Shape of a generated input, NAME=D0,D1,... (repeatable)" };
        var exact = new Option<bool>("--exact") { Description = "Require bit-identical outputs" };
        var opt = new Option<string>("--ort-optimization") { Description = "ONNX Runtime graph optimizations: all, extended, basic, disable", DefaultValueFactory = _ => "all" };
        opt.AcceptOnlyFromAmong("all", "extended", "basic", "disable");
        var disable = new Option<string[]>("--ort-disable") { Description = "Turn off one ONNX Runtime optimizer by name, e.g. ConstantFolding (repeatable)" };
        var cmd = new Command("verify", "Run two models on ONNX Runtime (CPU) on the same inputs; exit 0 when every output agrees within tolerance, 1 when not")
            { reference, candidate, inputs, rtol, atol, seed, dims, shapes, exact, opt, disable };
        cmd.SetAction(p =>
        {
            var options = new VerifyOptions
            {
                InputsDirectory = p.GetValue(inputs),
                Rtol = p.GetValue(rtol),
                Atol = p.GetValue(atol),
                Seed = p.GetValue(seed),
                Exact = p.GetValue(exact),
                Dims = ParseDims(p.GetValue(dims) ?? []),
                Shapes = ParseShapes(p.GetValue(shapes) ?? []),
                Ort = new OrtRunOptions { Optimization = ParseOpt(p.GetValue(opt)!), DisabledOptimizers = p.GetValue(disable) ?? [] },
            };
            var r = ModelVerifier.Verify(p.GetValue(reference)!, p.GetValue(candidate)!, options);
            ctx.Stdout.WriteLine($"inputs: {string.Join(", ", r.Inputs.Select(i => $"{i.Key} {i.Value}"))}");
            foreach (var o in r.Outputs) ctx.Stdout.WriteLine(o.ToString());
            ctx.Stdout.WriteLine(r.Ok
                ? $"OK: {r.Outputs.Count} output(s) agree" + (options.Exact ? " bit for bit" : $" within rtol {options.Rtol:G3}, atol {options.Atol:G3}")
                : $"DIFFERENT: {r.Outputs.Count(o => !o.Ok)} of {r.Outputs.Count} output(s) disagree");
            return r.Ok ? Cli.ExitOk : Cli.ExitDiffers;
        });
        return cmd;
    }

    private static GraphOptimizationLevel ParseOpt(string s) => s switch
    {
        "disable" => GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic" => GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended" => GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        _ => GraphOptimizationLevel.ORT_ENABLE_ALL,
    };

    internal static Dictionary<string, long[]> ParseShapes(string[] specs)
    {
        var d = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (var s in specs)
        {
            int eq = s.IndexOf('=');
            long[]? dims = null;
            if (eq > 0)
            {
                var parts = s[(eq + 1)..].Split(',', StringSplitOptions.TrimEntries);
                dims = parts.Length == 1 && parts[0].Length == 0 ? [] : new long[parts.Length];
                for (int i = 0; i < dims.Length; i++)
                    if (!long.TryParse(parts[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out dims[i]) || dims[i] < 0) { dims = null; break; }
            }
            if (dims is null) throw new TernionException($"--shape '{s}': expected NAME=D0,D1,... with non-negative integers");
            d[s[..eq]] = dims;
        }
        return d;
    }

    internal static Dictionary<string, long> ParseDims(string[] specs)
    {
        var d = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var s in specs)
        {
            int eq = s.IndexOf('=');
            if (eq <= 0 || !long.TryParse(s[(eq + 1)..], NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) || v < 0)
                throw new TernionException($"--dim '{s}': expected NAME=VALUE with a non-negative integer VALUE");
            d[s[..eq]] = v;
        }
        return d;
    }
}
