using System.CommandLine;
using Ternion.IR.Serialization;

namespace Ternion.Compiler.Commands;

/// <summary>`ternion convert MODEL -o OUT`: load through the IR and save (external data, alignment).</summary>
public static class ConvertCommand
{
    public static Command Create(CliContext ctx)
    {
        var model = new Argument<string>("MODEL") { Description = "ONNX model file" };
        var output = CommonOptions.Output();
        var external = CommonOptions.ExternalData();
        var align = CommonOptions.Align();
        var cmd = new Command("convert", "Load a model through Ternion's IR and save it (lossless), choosing how weights are stored") { model, output, external, align };
        cmd.SetAction(p =>
        {
            var input = p.GetValue(model)!;
            using var progress = new ProgressReporter(ctx, "convert");
            progress.Phase("loading");
            var m = ModelSerializer.Load(input);
            progress.Phase("writing");
            var result = ModelSerializer.Save(m, p.GetValue(output)!, new SaveOptions
            {
                ExternalData = CommonOptions.ParseExternal(p.GetValue(external)!),
                Alignment = p.GetValue(align),
                Progress = progress,
            });
            progress.Finish();
            ctx.Stdout.WriteLine($"wrote {result.ModelPath} ({result.ModelBytes:N0} bytes)" +
                (result.DataPath is null ? "" : $" and {Path.GetFileName(result.DataPath)} ({result.ExternalTensors:N0} tensors, {result.DataBytes:N0} bytes)"));
            return Cli.ExitOk;
        });
        return cmd;
    }
}

/// <summary>Options shared by convert and compile.</summary>
public static class CommonOptions
{
    public static Option<string> Output() => new("--output", "-o") { Description = "Output model file", Required = true };

    public static Option<string> ExternalData()
    {
        var o = new Option<string>("--external-data") { Description = "auto: keep external weights external and go external past 2 GiB; always; never", DefaultValueFactory = _ => "auto" };
        o.AcceptOnlyFromAmong("auto", "always", "never");
        return o;
    }

    public static Option<int> Align()
    {
        var o = new Option<int>("--align") { Description = "Alignment of tensors in the external data file (power of two, at least 64)", DefaultValueFactory = _ => 4096 };
        o.Validators.Add(r =>
        {
            int v = r.GetValueOrDefault<int>();
            if (v < 64 || (v & (v - 1)) != 0) r.AddError($"--align {v}: must be a power of two of at least 64");
        });
        return o;
    }

    public static ExternalDataMode ParseExternal(string s) => s switch
    {
        "always" => ExternalDataMode.Always,
        "never" => ExternalDataMode.Never,
        _ => ExternalDataMode.Auto,
    };
}
