using System.Text.RegularExpressions;

namespace NodeKeeper.Core.Config;

/// <summary>What runs an app's script: node, another interpreter, or nothing (interpreter = "none": the script is the program).</summary>
public enum ProgramKind
{
    /// <summary>node: the preload and every feature that needs it (IPC readiness, shared port, heap flag, event-loop
    /// watch, HTTP counts, captures).</summary>
    Node,
    /// <summary>Another interpreter (python3, bash, bun, ts-node...) given the script: run, logged, restarted, limited, watched
    /// from outside.</summary>
    Interpreter,
    /// <summary>interpreter = "none": the script is itself the program (a binary, an executable script, npm).</summary>
    Executable,
}

/// <summary>Which <see cref="ProgramKind"/> an interpreter is, and how the config's messages name it.</summary>
public static partial class Programs
{
    /// <summary>The interpreter that runs the script as the program itself, as PM2 spells it.</summary>
    public const string None = "none";

    /// <summary>node by its file name, which starts with "node": node, nodejs, node20, node-20.11, or a wrapper that
    /// execs node (node-wrapper.sh); a path to one too. nodemon, a watcher of its own, is not.</summary>
    [GeneratedRegex(@"^node(?!mon)")]
    private static partial Regex NodeName();

    public static ProgramKind Of(string interpreter) =>
        interpreter == None ? ProgramKind.Executable
        : NodeName().IsMatch(Path.GetFileName(interpreter)) ? ProgramKind.Node
        : ProgramKind.Interpreter;

    /// <summary>The program as status names it: "node", the interpreter's file name, or "none".</summary>
    public static string Label(string interpreter) => Of(interpreter) switch
    {
        ProgramKind.Node => AppDefaults.Interpreter,
        ProgramKind.Executable => None,
        _ => Path.GetFileName(interpreter),
    };

    /// <summary>What an app that is not node goes without, as status and describe say it.</summary>
    public const string WithoutNode = "watched from outside (no event-loop, heap or HTTP figures, no captures, no shared port)";

    /// <summary>What the app runs, for messages: "runs python3", "runs its script as a program (interpreter = "none")".</summary>
    public static string Runs(string interpreter) => Of(interpreter) switch
    {
        ProgramKind.Executable => "runs its script as a program (interpreter = \"none\")",
        _ => $"runs {Path.GetFileName(interpreter)}",
    };
}
