// Android Studio / Gradle project of the demo app. NOT compiled on the machine it was written on
// (no Android SDK, no Google Maven there); see README.md for what was and was not verified.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "asym-distill-android"
include(":core", ":app")
