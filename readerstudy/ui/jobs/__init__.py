"""Engine jobs in the GUI: child processes (runner), the jobs panel and the Engine tab."""
