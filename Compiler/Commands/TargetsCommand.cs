using System.CommandLine;
using Ternion.Backends.Targets;

namespace Ternion.Compiler.Commands;

/// <summary>`ternion targets`: every target (built-in and plugin) with what it runs natively.</summary>
public static class TargetsCommand
{
    public static Command Create(CliContext ctx)
    {
        var plugins = CompileCommand.Plugins();
        var cmd = new Command("targets", "List the targets, built-in and from plugins, with their capabilities") { plugins };
        cmd.SetAction(p =>
        {
            var r = Registry(p.GetValue(plugins));
            int width = Math.Max(12, r.Targets.Max(t => t.Name.Length));
            foreach (var t in r.Targets.OrderBy(t => t.Name, StringComparer.Ordinal))
            {
                var c = t.Capabilities;
                ctx.Stdout.WriteLine($"{t.Name.PadRight(width)} {t.Description}");
                ctx.Stdout.WriteLine($"{new string(' ', width)} native TernaryDecode: {(c.NativeTernaryDecode ? "yes" : "no")}, native FlexAttention: {(c.NativeFlexAttention ? "yes" : "no")}, max opset {c.MaxOpset}, block {c.PreferredBlockSize}, align {c.Alignment}  [{r.OriginOf(t)}]");
                if (c.SessionRequirement is { } needs) ctx.Stdout.WriteLine($"{new string(' ', width)} a session needs: {needs}");
            }
            if (r.Passes.Count > 0) ctx.Stdout.WriteLine($"plugin passes: {string.Join(", ", r.Passes.Keys.Order(StringComparer.Ordinal))}");
            return Cli.ExitOk;
        });
        return cmd;
    }

    /// <summary>Built-ins, plus the plugins folders (next to ternion, and ~/.ternion/plugins), plus --plugin.</summary>
    public static TargetRegistry Registry(string[]? plugins)
    {
        var r = TargetRegistry.WithBuiltIns();
        foreach (var folder in TargetRegistry.DefaultPluginFolders()) r.LoadPluginFolder(folder);
        foreach (var dll in plugins ?? []) r.LoadPlugin(dll);
        return r;
    }
}
