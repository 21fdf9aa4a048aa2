// Runs test classes with JUnit 4 from the command line and prints one line a
// test and "N passed, N failed" (scripts/test-kotlin.sh reads it). Gradle's
// `:presence-ui:test` runs the same classes without this.
package org.mailpresence.ui

import org.junit.runner.Description
import org.junit.runner.JUnitCore
import org.junit.runner.notification.Failure
import org.junit.runner.notification.RunListener
import kotlin.system.exitProcess

fun main(args: Array<String>) {
    val core = JUnitCore()
    core.addListener(object : RunListener() {
        private val failed = mutableSetOf<Description>()
        override fun testFailure(failure: Failure) {
            failed += failure.description
            println("FAIL ${failure.description.className.substringAfterLast('.')}: ${failure.description.methodName}\n     ${failure.trimmedTrace.lines().take(6).joinToString("\n     ")}")
        }
        override fun testFinished(description: Description) {
            if (description !in failed) println("ok   ${description.className.substringAfterLast('.')}: ${description.methodName}")
        }
    })
    val result = core.run(*args.map { Class.forName(it) }.toTypedArray())
    println("${result.runCount - result.failureCount} passed, ${result.failureCount} failed")
    exitProcess(if (result.wasSuccessful() && result.runCount > 0) 0 else 1)
}
