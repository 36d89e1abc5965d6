using System.Runtime.CompilerServices;

// The unit tests check the invariants of the exit classifier's tables (ExitSignatures), which are internal.
[assembly: InternalsVisibleTo("NodeKeeper.Core.Tests")]
