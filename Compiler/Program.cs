using Ternion.Compiler;

return Cli.Run(args, Console.Out, Console.Error);
