# One image for every service: run it with `python -m services.<name>`.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
COPY gamify ./gamify
RUN pip install --no-cache-dir . && useradd --system --uid 10001 gamify
USER gamify
ENV GAMIFY_HTTP_HOST=0.0.0.0 GAMIFY_LOG_FORMAT=json
CMD ["python", "-m", "services.points"]
