using System.CommandLine;
using Microsoft.Extensions.Logging;
using Ternion.Backends;
using Ternion.Backends.Reports;
using Ternion.Backends.Targets;
using Ternion.IR.Serialization;

namespace Ternion.Compiler.Commands;

/// <summary>
/// `ternion compile MODEL -o OUT --target NAME`: detect, pack, lower, and emit for a target.
/// MODEL may be a folder (an exporter's model folder): then OUT is a folder too, see <see cref="FolderCompiler"/>.
/// </summary>
public static class CompileCommand
{
    public static Option<string[]> Plugins() => new("--plugin")
    {
        Description = "Load targets and passes from a plugin assembly (repeatable); DLLs in the plugins folders load too",
        Recursive = true,
    };

    public static Command Create(CliContext ctx)
    {
        var model = new Argument<string>("MODEL") { Description = "ONNX model file, or a folder of them (Optimum, Olive / GenAI model builder): every model compiled, other files copied" };
        var output = CommonOptions.Output();
        var target = new Option<string>("--target", "-t") { Description = "Target to compile for (see `ternion targets`)", DefaultValueFactory = _ => "fallback" };
        var blockSize = new Option<int?>("--block-size") { Description = "TTF1 block size: 320 or 640 trits (default: the target's preference)" };
        blockSize.Validators.Add(r => { var v = r.GetValueOrDefault<int?>(); if (v is not null and not (320 or 640)) r.AddError($"--block-size {v}: must be 320 or 640"); });
        var report = new Option<string?>("--report") { Description = "Write a report of what was done here: FILE.json (data) or FILE.html (tables and a chart)" };
        var minElements = new Option<long>("--min-elements") { Description = "Weights with fewer elements stay dense", DefaultValueFactory = _ => 1024 };
        var noFallback = new Option<bool>("--no-fallback-body") { Description = "native: do not ship the standard-op TernaryDecode body" };
        var noAttention = new Option<bool>("--no-attention-op") { Description = "Lower causal FlexAttention to MatMul/Softmax ops even where ONNX's Attention op (opset 23+) would do" };
        var external = CommonOptions.ExternalData();
        var align = new Option<int?>("--align") { Description = "Alignment of tensors in external data (default: the target's preference)" };
        align.Validators.Add(r => { var v = r.GetValueOrDefault<int?>(); if (v is { } a && (a < 64 || (a & (a - 1)) != 0)) r.AddError($"--align {a}: must be a power of two of at least 64"); });
        var check = new Option<bool>("--check") { Description = "Check the IR invariants after every pass" };
        var dump = new Option<string?>("--dump-ir") { Description = "Write the model after each pass into numbered folders in DIR" };
        var threads = new Option<int>("--threads") { Description = "Threads for packing (0 = all cores)", DefaultValueFactory = _ => 0 };
        var passes = new Option<string[]>("--pass") { Description = "Append a plugin pass by name to the pipeline (repeatable)" };
        var plugins = Plugins();
        var cmd = new Command("compile", "Find ternary weights, pack them into TTF1, lower FlexAttention, and emit a model for a target")
            { model, output, target, blockSize, report, minElements, noFallback, noAttention, external, align, check, dump, threads, passes, plugins };
        cmd.SetAction(p =>
        {
            var registry = TargetsCommand.Registry(p.GetValue(plugins));
            var input = p.GetValue(model)!;
            var request = new CompileRequest
            {
                InputPath = input,
                OutputPath = p.GetValue(output)!,
                Target = p.GetValue(target)!,
                BlockSize = p.GetValue(blockSize),
                MinElements = p.GetValue(minElements),
                FallbackBody = !p.GetValue(noFallback),
                AttentionOp = !p.GetValue(noAttention),
                ExternalData = CommonOptions.ParseExternal(p.GetValue(external)!),
                Alignment = p.GetValue(align),
                CheckInvariants = p.GetValue(check),
                DumpIrDirectory = p.GetValue(dump),
                Threads = p.GetValue(threads),
                ExtraPasses = p.GetValue(passes) ?? [],
                ReportPath = p.GetValue(report),
            };
            if (Directory.Exists(input))
                return CompileFolder(ctx, request, registry);
            CompileResult result;
            using (var progress = new ProgressReporter(ctx, "compile"))
            {
                result = TernionCompiler.Compile(request, registry, ctx.Logger("ternion.compile"), progress, progress.Phase);
                progress.Finish();
            }
            if (p.GetValue(report) is { } reportPath)
                AtomicFile.WriteAllText(reportPath, IsHtml(reportPath) ? HtmlReport.Render(Path.GetFileName(input), result.Report.ToJson()) : result.Report.ToJson());
            WriteSummary(ctx.Stdout, result);
            return Cli.ExitOk;
        });
        return cmd;
    }

    /// <summary>--report FILE.html (or .htm) writes the page; any other name the JSON.</summary>
    internal static bool IsHtml(string path) =>
        Path.GetExtension(path).Equals(".html", StringComparison.OrdinalIgnoreCase) || Path.GetExtension(path).Equals(".htm", StringComparison.OrdinalIgnoreCase);

    private static int CompileFolder(CliContext ctx, CompileRequest request, TargetRegistry registry)
    {
        string input = request.InputPath, output = request.OutputPath;
        if (request.ReportPath is { } reportPath) CheckFolderReportPath(reportPath, input, output);
        var logger = ctx.Logger("ternion.compile");
        var result = FolderCompiler.Compile(
            new FolderCompileRequest { InputFolder = input, OutputFolder = output, Settings = request with { ReportPath = null } },
            registry, logger, modelDone: m => logger.LogDebug("compiled {Model} into the temporary folder", m.RelativePath));
        if (request.ReportPath is { } path)
            AtomicFile.WriteAllText(path, IsHtml(path)
                ? HtmlReport.RenderFolder(Path.GetFileName(Path.GetFullPath(input).TrimEnd('/')), result.Models.Select(m => (m.RelativePath, m.Result.Report.ToJson())).ToList(), result.CopiedFiles, result.RewrittenFiles)
                : FolderReportJson(result, input));
        // The per-model lines come once the folder is in place: a later model's failure leaves no
        // output, and no line should have claimed one.
        var models = result.Models;
        foreach (var m in models) ctx.Stdout.WriteLine(ModelLine(m));
        int weights = models.Sum(m => m.Result.Report.TernaryWeights.Count);
        long modelBefore = models.Sum(m => m.Result.Report.BytesBefore), modelAfter = models.Sum(m => m.Result.Report.BytesAfter);
        string others = result.CopiedFiles.Count + " other file(s) copied"
            + (result.RewrittenFiles.Count == 0 ? "" : $", {string.Join(", ", result.RewrittenFiles)} updated");
        ctx.Stdout.WriteLine($"total: {models.Count} model(s) compiled for {request.Target}, {weights} ternary weight(s) packed, model bytes {modelBefore:N0} -> {modelAfter:N0} ({Ratio(modelBefore, modelAfter)}); "
            + $"{others}; folder {result.BytesBefore:N0} -> {result.BytesAfter:N0} bytes; wrote {result.OutputFolder} in {result.Elapsed.TotalSeconds:F2} s");
        return Cli.ExitOk;
    }

    /// <summary>One line per model of a folder: what compile's summary says, condensed.</summary>
    private static string ModelLine(FolderModelResult m)
    {
        var rep = m.Result.Report;
        string flex = rep.FlexAttention.Count == 0 ? "" : $", FlexAttention {string.Join(", ", rep.FlexAttention.GroupBy(f => f.Result).Select(g => $"{g.Count()} {g.Key}"))}";
        string data = m.Result.Saved.DataPath is { } d ? $" (+ {Path.GetFileName(d)})" : "";
        return $"{m.RelativePath}{data}: {rep.TernaryWeights.Count} ternary weight(s) packed ({rep.BitsPerTernaryWeight:F3} bits per ternary weight), {rep.Rejected.Count} left dense{flex}; "
            + $"{rep.BytesBefore:N0} -> {rep.BytesAfter:N0} bytes ({Ratio(rep.BytesBefore, rep.BytesAfter)}) in {m.Result.Elapsed.TotalSeconds:F2} s";
    }

    private static string Ratio(long before, long after) => (before == 0 ? 0 : (double)after / before).ToString("P1", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>A folder's report: one compile report per model, and what happened to the other files.</summary>
    internal static string FolderReportJson(FolderCompileResult result, string input)
    {
        var models = new System.Text.Json.Nodes.JsonArray();
        foreach (var m in result.Models)
            models.Add(new System.Text.Json.Nodes.JsonObject { ["path"] = m.RelativePath, ["report"] = System.Text.Json.Nodes.JsonNode.Parse(m.Result.Report.ToJson()) });
        var root = new System.Text.Json.Nodes.JsonObject
        {
            ["folder"] = Path.GetFullPath(input),
            ["output"] = result.OutputFolder,
            ["models"] = models,
            ["copied"] = new System.Text.Json.Nodes.JsonArray(result.CopiedFiles.Select(f => (System.Text.Json.Nodes.JsonNode?)f).ToArray()),
            ["updated"] = new System.Text.Json.Nodes.JsonArray(result.RewrittenFiles.Select(f => (System.Text.Json.Nodes.JsonNode?)f).ToArray()),
            ["bytesBefore"] = result.BytesBefore,
            ["bytesAfter"] = result.BytesAfter,
        };
        return root.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>A folder's report may go anywhere but into the input folder; inside the output folder it is written after the folder is in place.</summary>
    private static void CheckFolderReportPath(string reportPath, string input, string output)
    {
        if (reportPath.Length == 0) throw new Ternion.IR.TernionException("report: the path is empty");
        string real = PathSafety.RealPath(Path.GetFullPath(reportPath));
        string realIn = PathSafety.RealPath(Path.GetFullPath(input)).TrimEnd('/') + "/";
        string realOut = PathSafety.RealPath(Path.GetFullPath(output)).TrimEnd('/') + "/";
        if (real.StartsWith(realIn, StringComparison.Ordinal))
            throw new Ternion.IR.TernionException($"report {reportPath}: is inside the input folder {input}; nothing is written there");
        string folder = Path.GetDirectoryName(Path.GetFullPath(reportPath))!;
        if (!real.StartsWith(realOut, StringComparison.Ordinal) && !Directory.Exists(folder))
            throw new Ternion.IR.TernionException($"report {reportPath}: folder '{folder}' does not exist");
    }

    private static void WriteSummary(TextWriter w, CompileResult r)
    {
        var rep = r.Report;
        long weights = rep.TernaryWeights.Sum(t => t.Shape.Aggregate(1L, (a, b) => a * b));
        w.WriteLine($"target {rep.Target}: {rep.TernaryWeights.Count} ternary weight(s) packed ({weights:N0} weights, {rep.TernaryWeights.Sum(t => t.OriginalBytes):N0} -> {rep.TernaryWeights.Sum(t => t.PackedBytes):N0} bytes, {rep.BitsPerTernaryWeight:F3} bits per ternary weight), {rep.Rejected.Count} candidate(s) left dense");
        if (rep.FlexAttention.Count > 0)
            w.WriteLine($"FlexAttention: {string.Join(", ", rep.FlexAttention.GroupBy(f => f.Result).Select(g => $"{g.Count()} {g.Key}"))}");
        w.WriteLine($"model bytes: {rep.BytesBefore:N0} -> {rep.BytesAfter:N0} ({(rep.BytesBefore == 0 ? 0 : (double)rep.BytesAfter / rep.BytesBefore):P1})");
        w.WriteLine($"wrote {r.Saved.ModelPath}" + (r.Saved.DataPath is null ? "" : $" and {Path.GetFileName(r.Saved.DataPath)}") + $" in {r.Elapsed.TotalSeconds:F2} s");
    }
}

/// <summary>Writes a small text file through a temporary file and a rename, like model outputs.</summary>
public static class AtomicFile
{
    public static void WriteAllText(string path, string text)
    {
        var full = Path.GetFullPath(path);
        var tmp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            File.WriteAllText(tmp, text);
            File.Move(tmp, full, overwrite: true);
        }
        finally { if (File.Exists(tmp)) File.Delete(tmp); }
    }
}
